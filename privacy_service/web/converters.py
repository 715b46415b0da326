"""Path converters: ``<uuid:…>`` for the ids in the service's URLs.

An id that is no UUID never reaches a view or the database; it is answered as an id nobody has,
with the same 404 as before the converter existed:

- ``<uuid:request_id>`` (the staff's pages): the segment must be a UUID, or the route does not
  match; the dashboard's catch-all route then answers with its 404 page, after the sign-in
  check, within the navigation.
- ``<uuid(missing="request"):request_id>`` (the API and the customer's pages): every segment
  matches, and one that is no UUID raises ``UnknownId`` while routing: the API answers the
  problem ``404 Not found: No such request.``, the customer's pages their "not yours" page.
"""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter, Map

from privacy_service.db import is_uuid

# What ``db.is_uuid`` accepts: the canonical 8-4-4-4-12 form, in either case.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class UnknownId(NotFound):
    """A path id that is no UUID: a 404 raised while routing, worded as for an unknown id."""

    # The title of the service's own 404 problems (``errors.NotFound``), not werkzeug's.
    name = "Not found"


class UUIDConverter(BaseConverter):
    """A row id in a path, passed on as the string (ids are stored as canonical UUID text)."""

    def __init__(self, url_map: Map, missing: str | None = None):
        super().__init__(url_map)
        self.missing = missing
        # Without ``missing`` the pattern itself refuses a malformed id; with it, any segment
        # matches and ``to_python`` answers the 404 that names what is missing.
        self.regex = "[^/]+" if missing else UUID_PATTERN

    def to_python(self, value: str) -> str:
        """The id; ``UnknownId`` ("No such <missing>.") when it is no UUID."""
        if self.missing and not is_uuid(value):
            raise UnknownId(f"No such {self.missing}.")
        return value


def openapi_schema(_converter: UUIDConverter) -> dict:
    """How the API's documentation describes an id in a path."""
    return {"type": "string", "format": "uuid"}
