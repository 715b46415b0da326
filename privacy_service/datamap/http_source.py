"""A provider's HTTP API as a source: find a customer's records, read them, erase them.

Every call has a timeout and bounded retries with backoff (connection errors, timeouts and 5xx
answers); an answer that is not the JSON the data map describes is an error naming the source
and the table, never quoting the answer. Records are read page by page (``next``). Errors carry
no URL or value (the URL may hold credentials; values are personal data).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

from privacy_service.crypto.normalize import normalize

MAX_PAGES = 1000
_GONE = object()  # a 404 answer to a change: the record is not there


class HttpSourceError(Exception):
    """The provider could not be used: unreachable, failing, or answering garbage."""


class HttpSource:
    """One HTTP source: its base URL, credentials and limits."""

    def __init__(self, spec, base_url: str, token: str | None = None):
        self.spec = spec
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = spec.http["timeout_seconds"]
        self.retries = spec.http["retries"]

    def dispose(self) -> None:
        """Nothing pooled (the engine interface of SQL sources)."""

    def _url(self, path: str, params: dict | None = None) -> str:
        # A provider's next-page link may be absolute.
        url = path if path.startswith(("http://", "https://")) else self.base + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        return url

    def call(self, method: str, url: str, what: str, body: dict | None = None, gone=None):
        """One call with retries; the decoded JSON (None for an empty body; ``gone`` for 404).

        ``body`` is sent as JSON. Only calls that are safe to repeat are made (reads, erasing a
        record, setting fields to values), so a call that timed out is simply sent again.
        """
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        last = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(4.0, 0.25 * 2 ** (attempt - 1)))
            request = urllib.request.Request(  # noqa: S310
                url, data=data, method=method, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                    body = answer.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return gone  # nothing there (or already erased: erasing is idempotent)
                last = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # the request is wrong (auth, path): retrying will not help
                continue
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = type(exc).__name__
                continue
            if not body.strip():
                return None
            try:
                return json.loads(body)
            except ValueError:
                last = "an answer that is not JSON"
                break
        raise HttpSourceError(f"source {self.spec.name!r} ({what}): {last}")

    def records(self, table, key: str | None = None, params: dict | None = None) -> Iterator[dict]:
        """Every record of ``table`` (for the account ``key``), page by page."""
        find = table.http["find"]
        path = find["path"].replace("{key}", urllib.parse.quote(str(key or ""), safe=""))
        url = self._url(path, params)
        for _page in range(MAX_PAGES):
            doc = self.call("GET", url, "find")
            if doc is None:
                return
            items = _at(doc, find["records"])
            if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
                raise HttpSourceError(
                    f"source {self.spec.name!r} table {table.name!r}: the answer has no list of "
                    f"records at {find['records'] or '(top level)'!r}"
                )
            yield from items
            following = _at(doc, find["next"]) if find.get("next") else None
            if not following:
                return
            url = self._url(str(following))

    def find_accounts(self, kind: str, value: str) -> list[str]:
        """Ids of the identity records the provider finds for this contact."""
        source = self.spec
        table = source.tables[source.identity_table]
        wanted = normalize(kind, value)
        found = self.records(table, params={source.contacts[kind]: wanted})
        keys = []
        for record in found:
            if source.identity_column not in record:
                raise HttpSourceError(
                    f"source {source.name!r}: records have no {source.identity_column!r} field"
                )
            keys.append(str(record[source.identity_column]))
        return keys

    def account_records(self, table, keys) -> Iterator[dict]:
        """Records of ``table`` for each of the customer's accounts."""
        for key in keys:
            if table.name == self.spec.identity_table and not self.spec.key_from:
                # The account record itself, read by its id (find.item).
                doc = self.call(
                    "GET", self._url(table.http["find"]["item"].replace("{id}", _q(key))), "read"
                )
                if doc is not None and not isinstance(doc, dict):
                    raise HttpSourceError(
                        f"source {self.spec.name!r} table {table.name!r}: not a record"
                    )
                if doc:
                    yield doc
            else:
                yield from self.records(table, key=key)

    def erase(self, table, record_id) -> None:
        """Erase one record (a record already gone counts as erased)."""
        erase = table.http.get("erase")
        if not erase:
            raise HttpSourceError(f"source {self.spec.name!r} table {table.name!r}: no erase")
        url = self._url(erase["path"].replace("{id}", _q(record_id)))
        self.call(erase["method"], url, "erase")

    def change(self, table, call: str, record_id, values: dict) -> bool:
        """Set fields of one record through the table's ``update`` or ``anonymise`` call.

        False when the provider no longer has the record (404): there is nothing to change.
        """
        spec = table.http.get(call)
        if not spec:
            raise HttpSourceError(f"source {self.spec.name!r} table {table.name!r}: no {call}")
        url = self._url(spec["path"].replace("{id}", _q(record_id)))
        return self.call(spec["method"], url, call, body=values, gone=_GONE) is not _GONE

    def ping(self) -> None:
        """Reach the provider with a search that matches nobody (``privacy datamap check``)."""
        if self.spec.key_from:
            table = self.spec.tables[self.spec.identity_table]
            list(self.records(table, key="datamap-check-probe"))
            return
        kind = next(iter(self.spec.contacts))
        probe = {"email": "datamap-check@invalid.example", "phone": "13000000000"}[kind]
        self.find_accounts(kind, probe)


def _at(doc, dotted: str):
    """The value at a dotted path of a JSON document (the document itself for "")."""
    for part in [p for p in dotted.split(".") if p]:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _q(value) -> str:
    return urllib.parse.quote(str(value), safe="")
