"""The privacy team: staff accounts and their operations, sessions, notes, saved views."""
