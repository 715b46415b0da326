"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``.

A wrong configuration prints its one clear message and stops the server (exit code 4 makes
gunicorn's master give up instead of restarting the worker), without a traceback.
"""

import sys

from privacy_service.app import create_app
from privacy_service.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print(f"privacy-service: {exc}", file=sys.stderr)
    sys.exit(4)
