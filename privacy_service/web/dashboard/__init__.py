"""The privacy team's dashboard: staff accounts and roles, the queue, decisions, oversight."""
