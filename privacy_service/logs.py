"""Structured logging: JSON lines in production, readable text in development.

Log calls pass identifiers (request ids, counts, error types) as ``extra`` fields, never personal
data values; ``tests/test_no_plaintext.py`` checks the output for planted values.
"""

from __future__ import annotations

import json
import logging
import sys

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        doc = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line of text."""
        base = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        return f"{base} {extras}".rstrip()


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Install one handler on the root logger (idempotent across app instances)."""
    root = logging.getLogger()
    formatter = (
        JsonFormatter()
        if log_format == "json"
        else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    for handler in root.handlers:
        if getattr(handler, "_privacy", False):
            handler.setFormatter(formatter)
            return
    handler = logging.StreamHandler(sys.stderr)
    handler._privacy = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's access log prints full URLs; ours carry no personal data, but keep it quiet.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
