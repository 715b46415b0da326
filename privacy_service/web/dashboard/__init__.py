"""The privacy team's dashboard at /staff/: the queue, decisions, oversight, administration."""
