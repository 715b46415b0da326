"""The data map's HTTP sources (a provider's API: mail, carriers, payments), as declared in YAML.

    mailer:
      kind: http
      url_env: PRIVACY_SOURCE_MAILER_URL        # base URL
      token_env: PRIVACY_SOURCE_MAILER_TOKEN    # optional: sent as a bearer token
      timeout_seconds: 5
      retries: 2                                # bounded, with backoff
      identity: {table: subscribers, column: id, contacts: {email: email}}
      tables:
        subscribers:                            # found by contact: GET /subscribers?email=...
          find: {path: /subscribers, records: data, next: next, item: "/subscribers/{id}"}
          erase: {method: DELETE, path: "/subscribers/{id}"}
          fields: {...}
          update: {method: PATCH, path: "/subscribers/{id}"}     # optional: corrections
          anonymise: {method: PATCH, path: "/subscribers/{id}"}  # optional: anonymisation
          fields: {...}
        sends:                                  # found by the account: {key} is its id
          find: {path: "/subscribers/{key}/sends", records: items, next: next}
          erase: {method: DELETE, path: "/sends/{id}"}
          fields: {...}

``identity.contacts`` maps a contact kind to the query parameter the provider is searched by;
``identity.column`` names the record field holding the account id. A provider that knows
customers by another source's key instead (a payment provider keyed by the shop's customer id)
declares ``identity.key_from: shop``: every table's ``find.path`` then takes ``{key}``, the
customer's key in that source, and the provider is not asked at the contact lookup.
``records`` is where the records are in the JSON answer (dotted path; the answer itself when
empty); ``next`` is the field holding the next page's URL or path (none: one page).

``update`` and ``anonymise`` are optional calls on one record (``{id}``), each sent a JSON object
of field -> new value: ``update`` carries a correction (a table's fields may be ``correctable``
only when it declares ``update``); ``anonymise`` carries the anonymised values of the category
being erased (``replace`` fields get the replacement text, ``clear`` fields null), and is used
when the erasure policy anonymises that category, or when the record also holds categories the
customer did not ask to erase. Without ``anonymise`` the record is erased. Both must be safe to
repeat (they set values), as a call that timed out is sent again.
"""

from __future__ import annotations

from marshmallow import fields, validate

from privacy_service.policies._base import Strict

_PATH = validate.Regexp(r"^/[^\s]*$", error="A path starting with / (the base URL is in url_env).")


class Find(Strict):
    """How to list a table's records."""

    path = fields.String(required=True, validate=_PATH)
    records = fields.String(load_default="")
    next = fields.String(load_default=None)
    item = fields.String(validate=_PATH)  # one record by {id}: required on the identity table


class Erase(Strict):
    """How to erase one record (``{id}`` is its id)."""

    method = fields.String(load_default="DELETE", validate=validate.OneOf(("DELETE", "POST")))
    path = fields.String(required=True, validate=_PATH)


class Change(Strict):
    """How to change fields of one record (``{id}``): the body is a JSON object of new values."""

    method = fields.String(load_default="PATCH", validate=validate.OneOf(("PATCH", "PUT", "POST")))
    path = fields.String(required=True, validate=_PATH)


def check_http_source(source: dict) -> dict:
    """Problems of an HTTP source's declaration (marshmallow-style nested messages)."""
    problems: dict = {}
    if not source.get("url_env"):
        problems["url_env"] = ["Required: the environment variable holding the base URL."]
    identity = source.get("identity")
    tables = source.get("tables", {})
    if not identity or not (identity.get("contacts") or identity.get("key_from")):
        problems["identity"] = [
            "Required, with contacts: {email: <query parameter>}, or key_from: <source>."
        ]
        return problems
    if identity.get("contacts") and identity.get("key_from"):
        problems["identity"] = {"key_from": ["Give contacts or key_from, not both."]}
        return problems
    if identity["table"] not in tables:
        problems["identity"] = {"table": ["Not one of this source's tables."]}
        return problems
    if identity.get("lookup"):
        problems["identity"] = {"lookup": ["Database sources only: the provider searches."]}
    for name, table in tables.items():
        where = problems.setdefault("tables", {}).setdefault(name, {})
        if not table.get("find"):
            where["find"] = ["Required for an HTTP source: how to list the records."]
        elif (name != identity["table"] or identity.get("key_from")) and "{key}" not in table[
            "find"
        ]["path"]:
            where["find"] = {"path": ["Must contain {key}: the customer's account id."]}
        elif (
            name == identity["table"]
            and not identity.get("key_from")
            and "{id}" not in (table["find"].get("item") or "")
        ):
            where["find"] = {"item": ["Required on the identity table: a path with {id}."]}
        if not table.get("erase"):
            where["erase"] = ["Required for an HTTP source: how to erase a record ({id})."]
        for call in ("erase", "update", "anonymise"):
            if table.get(call) and "{id}" not in table[call]["path"]:
                where.setdefault(call, {})["path"] = ["Must contain {id}: the record's id."]
        if table.get("link"):
            where["link"] = ["HTTP tables are found by find.path, not link."]
        for field_name, field in table["fields"].items():
            if field.get("correctable") and not table.get("update"):
                where.setdefault("fields", {})[field_name] = [
                    "Correctable only when the table declares update: how to change a record."
                ]
        if not where:
            problems["tables"].pop(name)
    if not problems.get("tables"):
        problems.pop("tables", None)
    return problems
