"""Property-based fuzzing of the pages and of headers: no form, query string or header gets a 5xx.

Customer pages and staff pages answer every error with an HTML page (never JSON, never a
traceback), redirect only within the site, and the API answers problem+json whatever the
headers say. Counts scale with ``FUZZ_SCALE`` (see ``test_fuzz.py``).
"""

import re
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import FUZZ, NO_LIMITS, examples, json_values, request_ids, weird_text

from privacy_service.team.accounts import create

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.slow  # thousands of generated inputs
form_text = weird_text.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
query_text = st.text(max_size=40) | st.sampled_from(
    ["99999999999999999999", "-1", "²", "0", "1e9", "%00", "\r\n", "/\t/evil.example", "//x"]
)


def _check_page(answer, context):
    assert answer.status_code < 500, (context, answer.get_data(as_text=True)[:500])
    if answer.status_code >= 400:
        assert answer.headers["Content-Type"].startswith("text/html"), context
        assert "Traceback" not in answer.get_data(as_text=True)
    if answer.status_code in (301, 302, 303, 307, 308):
        location = answer.headers["Location"]
        parts = urllib.parse.urlsplit(location)
        assert parts.netloc in ("", "localhost"), (context, location)
        assert not re.search(r"[\x00-\x20\\]", location), (context, location)


@pytest.fixture
def pages_app(make_app):
    return make_app(smtp_host="", **NO_LIMITS)


@pytest.fixture
def portal(pages_app):
    client = pages_app.test_client()
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    rid = (
        client.post("/", data={"csrf": csrf, "type": "access", "contact": "fuzz@example.com"})
        .headers["Location"]
        .split("/")[2]
    )
    return client, csrf, rid


portal_forms = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["access", "correction", "deletion", "account_closure"])
        | form_text,
        "contact": form_text,
        "categories": st.lists(st.sampled_from(["orders", "browsing", "x"]) | form_text),
        "field": st.sampled_from(["profile:nickname", "addresses:city", ":", "x"]) | form_text,
        "value": form_text,
        "record_id": query_text,
        "note": form_text,
        "code": st.text(alphabet="0123456789", max_size=8) | form_text,
    },
)


def test_fuzz_portal_forms(portal):
    client, csrf, rid = portal

    @settings(FUZZ, max_examples=examples(550))
    @given(
        form=portal_forms,
        token=st.sampled_from(["good", "none", "bad"]),
        target=st.sampled_from(["/", "verify", "resend", "cancel"]),
        other=st.none() | request_ids,
        language=st.none() | st.text(max_size=30),
    )
    def run(form, token, target, other, language):
        data = dict(form)
        if token != "none":
            data["csrf"] = csrf if token == "good" else "x" * 43
        path = "/" if target == "/" else f"/r/{other or rid}/{target}"
        headers = {"Accept-Language": _latin1(language)} if language is not None else {}
        _check_page(client.post(path, data=data, headers=headers), (path, data))

    run()


def test_fuzz_portal_links_and_queries(portal):
    client, _csrf, rid = portal

    @settings(FUZZ, max_examples=examples(450))
    @given(
        path=st.sampled_from(["/", "/r/{rid}", "/r/{rid}/verify", "/r/{rid}/download"])
        | st.just("/lang/{code}"),
        other=st.none() | request_ids,
        code=st.sampled_from(["en", "zh-CN", "xx"]) | st.text(max_size=10),
        nxt=query_text,
    )
    def run(path, other, code, nxt):
        url = path.format(rid=other or rid, code=urllib.parse.quote(code, safe="") or "en")
        url += "?next=" + urllib.parse.quote(nxt, safe="")
        _check_page(client.get(url), url)

    run()


@pytest.fixture
def staff(pages_app):
    with pages_app.app_context():
        rt = pages_app.extensions["privacy"]
        create(rt.db.session, email="admin@shop.example", role="admin", password=PASSWORD)
        rt.db.session.commit()
    client = pages_app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    signed = client.post(
        "/staff/login",
        data={"csrf": csrf, "email": "admin@shop.example", "password": PASSWORD},
    )
    assert signed.status_code == 302
    csrf = re.search(
        r'name="csrf" value="([^"]+)"', client.get("/staff/").get_data(as_text=True)
    ).group(1)
    rid = client.post(
        "/api/v1/requests", json={"type": "deletion", "email": "someone@example.com"}
    ).json["id"]
    return client, csrf, rid


queue_queries = st.dictionaries(
    st.sampled_from(
        ["type", "status", "due_within", "overdue", "page", "all", "q", "action", "request_id"]
    )
    | st.text(max_size=8),
    query_text,
    max_size=6,
)


def test_fuzz_staff_queries(staff):
    client, _csrf, rid = staff

    @settings(FUZZ, max_examples=examples(550))
    @given(
        path=st.sampled_from(
            ["/staff/", "/staff/requests", "/staff/audit", "/staff/retention", "/staff/requests/"]
        ),
        other=st.none() | request_ids,
        query=queue_queries,
    )
    def run(path, other, query):
        url = path + ((other or rid) if path.endswith("/requests/") else "")
        url += "?" + urllib.parse.urlencode(query)
        _check_page(client.get(url), url)

    run()


staff_forms = st.fixed_dictionaries(
    {},
    optional={
        "q": form_text,
        "template": st.sampled_from(["identity", "unfounded", "legal", ""]) | form_text,
        "zh": form_text,
        "en": form_text,
        "until": st.sampled_from(["2030-01-01", "2030-02-30", "9999-12-31", ""]) | form_text,
        "reason": form_text,
        "category": st.sampled_from(["orders", "browsing"]) | form_text,
        "extra": form_text,
    },
)


def test_fuzz_staff_forms(staff):
    client, csrf, rid = staff

    @settings(FUZZ, max_examples=examples(550))
    @given(
        form=staff_forms,
        action=st.sampled_from(["", "/approve", "/refuse", "/hold"]),
        other=st.none() | request_ids,
        token=st.booleans(),
    )
    def run(form, action, other, token):
        data = dict(form, csrf=csrf) if token else dict(form)
        path = f"/staff/requests/{other or rid}{action}" if action else "/staff/requests"
        _check_page(client.post(path, data=data), (path, data))

    run()


def test_fuzz_staff_login(pages_app):
    client = pages_app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    # Every attempt runs an Argon2 verification (by design), so fewer examples here.
    @settings(FUZZ, max_examples=examples(40))
    @given(
        email=form_text, password=form_text, code=st.none() | form_text, nxt=st.none() | query_text
    )
    def run(email, password, code, nxt):
        data = {"csrf": csrf, "email": email, "password": password}
        if code is not None:
            data["code"] = code
        url = "/staff/login" + ("" if nxt is None else "?next=" + urllib.parse.quote(nxt))
        _check_page(client.post(url, data=data), data)

    run()


def _latin1(text):
    raw = text.encode("utf-8", "surrogatepass").decode("latin-1")
    return raw.replace("\r", "").replace("\n", "")


header_names = st.sampled_from(
    [
        "Accept-Language",
        "Accept",
        "Content-Type",
        "Cookie",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "Authorization",
        "Idempotency-Key",
        "If-Modified-Since",
        "Range",
        "Origin",
        "Referer",
    ]
)


def test_fuzz_headers_everywhere(portal):
    client, _csrf, rid = portal

    @settings(FUZZ, max_examples=examples(450))
    @given(
        headers=st.dictionaries(header_names, st.text(max_size=80), max_size=5),
        target=st.sampled_from(
            [
                ("GET", "/"),
                ("GET", "/staff/login"),
                ("GET", "/r/{rid}/verify"),
                ("GET", "/api/v1/requests/{rid}"),
                ("POST", "/api/v1/requests"),
                ("POST", "/api/v1/requests/{rid}/verify"),
                ("GET", "/readyz"),
            ]
        ),
        body=json_values,
    )
    def run(headers, target, body):
        method, path = target
        path = path.format(rid=rid)
        sent = {name: _latin1(value) for name, value in headers.items()}
        if method == "POST":
            import json

            answer = client.open(path, method=method, data=json.dumps(body), headers=sent)
        else:
            answer = client.open(path, method=method, headers=sent)
        assert answer.status_code < 500, (path, sent, answer.get_data(as_text=True)[:300])
        if answer.status_code >= 400:
            wanted = "application/problem+json" if path.startswith("/api/") else "text/html"
            assert answer.headers["Content-Type"].startswith(wanted), (path, sent)

    run()
