"""WSGI entry point: ``gunicorn wsgi:app``."""

from privacy_service import create_app

app = create_app()
