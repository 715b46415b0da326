"""Data subjects (the shop's customers) as the service knows them: found by contact, never by
plaintext columns."""
