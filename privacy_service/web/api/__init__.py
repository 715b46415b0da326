"""The JSON API (flask-smorest): requests, privacy choices, identity documents."""
