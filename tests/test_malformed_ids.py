"""An id in a path that is no UUID answers exactly like an id nobody has: API, portal, dashboard.

The ``<uuid:…>`` converter (``web/converters.py``) refuses it before any view or query runs; the
answer must stay what clients saw when each view checked the id itself.
"""

from __future__ import annotations

import re

import pytest
from conftest import bearer
from staffpages import csrf_of, login, make_team

UNKNOWN = "0190aaaa-0000-7000-8000-000000000000"
MALFORMED = ("not-a-uuid", "0190aaaa00007000800000000000000", "{" + UNKNOWN + "}", "12345")


def _same_answer(a, b) -> None:
    def shown(answer):
        # The portal's language link leads back to the page's own address, and a form's CSRF
        # token is signed with the second it was made in: leave both out.
        body = re.sub(rb'next=[^"]*"', b"", answer.get_data())
        return re.sub(rb'name="csrf" value="[^"]*"', b'name="csrf"', body)

    assert (a.status_code, a.mimetype, shown(a)) == (b.status_code, b.mimetype, shown(b))


@pytest.mark.parametrize("bad", MALFORMED)
def test_api_answers_a_malformed_request_id_like_an_unknown_one(verified, client, bad):
    _rid, token = verified()
    calls = [
        ("get", "", {}),
        ("get", "/export", {}),
        ("post", "/cancel", {}),
        ("post", "/resend-code", {}),
        ("post", "/verify", {"json": {"code": "123456"}}),
    ]
    for method, tail, extra in calls:
        send = getattr(client, method)
        unknown = send(f"/api/v1/requests/{UNKNOWN}{tail}", headers=bearer(token), **extra)
        malformed = send(f"/api/v1/requests/{bad}{tail}", headers=bearer(token), **extra)
        assert malformed.status_code == 404 and malformed.mimetype == "application/problem+json"
        assert malformed.json == {
            "type": "https://privacy-service.example/problems/not-found",
            "title": "Not found",
            "status": 404,
            "detail": "No such request.",
        }, (method, tail)
        _same_answer(malformed, unknown)


def test_api_answers_a_malformed_document_id_like_an_unknown_one(make_app):
    client = make_app(service_tokens="customs:customs-token-0123456789abcdef").test_client()
    auth = bearer("customs-token-0123456789abcdef")
    for path in ("not-a-uuid", UNKNOWN):
        read = client.get(
            f"/api/v1/identity-documents/{path}?purpose=customs_declaration", headers=auth
        )
        assert read.status_code == 404 and read.json["detail"] == "No such identity document."
        assert read.json["title"] == "Not found"
        gone = client.delete(f"/api/v1/identity-documents/{path}", headers=auth)
        assert gone.json == read.json


def test_api_still_tells_wrong_methods_and_unknown_paths_apart(client):
    assert client.put(f"/api/v1/requests/{UNKNOWN}").status_code == 405
    assert client.put("/api/v1/requests/not-a-uuid").status_code == 405
    unknown_path = client.get(f"/api/v1/requests/{UNKNOWN}/nothing")
    assert unknown_path.status_code == 404 and unknown_path.json["title"] == "Not Found"


@pytest.mark.parametrize("bad", MALFORMED)
def test_portal_answers_a_malformed_request_id_like_an_unknown_one(client, bad):
    for tail in ("", "/verify", "/download", "/progress", "/cancel"):
        unknown = client.get(f"/r/{UNKNOWN}{tail}", headers={"Accept": "text/html"})
        malformed = client.get(f"/r/{bad}{tail}", headers={"Accept": "text/html"})
        assert malformed.status_code == 404 and malformed.mimetype == "text/html", tail
        _same_answer(malformed, unknown)
        # A program asking for the page gets the same page.
        _same_answer(client.get(f"/r/{bad}{tail}"), unknown)


@pytest.mark.parametrize("bad", MALFORMED)
def test_dashboard_answers_a_malformed_request_id_like_an_unknown_one(client, session, bad):
    make_team(session)
    anonymous = client.application.test_client()
    assert anonymous.get(f"/staff/requests/{bad}").status_code == 302, "sign-in comes first"
    login(client, "admin@shop.example")
    csrf = csrf_of(client, "/staff/")
    for tail in ("", "/customer", "/approve", "/found/orders"):
        unknown = client.get(f"/staff/requests/{UNKNOWN}{tail}")
        malformed = client.get(f"/staff/requests/{bad}{tail}")
        assert malformed.status_code == 404 and "队列 Queue" in malformed.get_data(as_text=True)
        _same_answer(malformed, unknown)
    for tail in ("/notes", "/assign", "/hold", f"/holds/{UNKNOWN}/release", "/refuse"):
        unknown = client.post(f"/staff/requests/{UNKNOWN}{tail}", data={"csrf": csrf})
        malformed = client.post(f"/staff/requests/{bad}{tail}", data={"csrf": csrf})
        assert malformed.status_code == 404, tail
        _same_answer(malformed, unknown)
    unknown = client.post(f"/staff/admin/staff/{UNKNOWN}", data={"csrf": csrf, "change": "x"})
    malformed = client.post(f"/staff/admin/staff/{bad}", data={"csrf": csrf, "change": "x"})
    assert malformed.status_code == 404
    _same_answer(malformed, unknown)
