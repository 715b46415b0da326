"""Property-based fuzzing of the API: no body, header or path, however malformed, gets a 5xx.

Every API endpoint gets hundreds of generated inputs per database backend: arbitrary JSON,
near-valid bodies with wrong types, oversized and control-character strings, unknown fields,
raw bytes that are not UTF-8, and odd headers. The pages (portal and staff forms, query
strings) are fuzzed in ``test_fuzz_pages.py``. Together: over 5,000 inputs per backend, over
10,000 per CI run (SQLite and PostgreSQL). ``FUZZ_SCALE=10`` multiplies every count (soak).
"""

import json
import os
import urllib.parse

import pytest
from conftest import bearer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # thousands of generated inputs
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    """``n`` generated inputs, times ``FUZZ_SCALE``."""
    return max(1, int(n * SCALE))


EXAMPLES = examples(500)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    derandomize=True,
)

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _oversized(piece: str, size: int) -> str:
    return (piece * (size // len(piece) + 1))[:size]


# Over every length limit: a drawn piece repeated to 2,000-2,100 characters. Hypothesis draws a
# string character by character (~8 us each): 2,000 drawn ones cost more than the request they
# are sent in, while what a long string tests is its length (the characters are the piece's,
# control characters, surrogates and NUL included; short strings cover every character alone).
oversized_text = st.builds(_oversized, st.text(min_size=1, max_size=40), st.integers(2000, 2100))
weird_text = (
    st.text(max_size=300)
    | oversized_text
    | st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",
            "a@b",
            "demo@example.com",
            "13800138000",
            "+8613800138000",
            "🙂" * 50,
        ]
    )
)
types = (
    st.sampled_from(["access", "correction", "deletion", "account_closure", "ACCESS", ""])
    | json_values
)
near_valid = st.fixed_dictionaries(
    {},
    optional={
        "type": types,
        "email": weird_text | json_values,
        "phone": st.text(alphabet="0123456789+-() ", max_size=20) | json_values,
        "categories": st.lists(
            st.sampled_from(["orders", "browsing", "x"]) | json_values, max_size=25
        )
        | json_values,
        "corrections": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "category": weird_text,
                    "field": weird_text,
                    "value": weird_text | json_values,
                },
            ),
            max_size=3,
        )
        | json_values,
        "note": weird_text | json_values,
        "language": st.sampled_from(["zh-CN", "en", "fr"]) | json_values,
        "jurisdiction": st.sampled_from(["cn", "gdpr", "ccpa", "mars"]) | json_values,
        "unknown": json_values,
    },
)
bodies = st.one_of(
    near_valid.map(lambda b: ("json", b)),
    json_values.map(lambda b: ("json", b)),
    st.binary(max_size=300).map(lambda b: ("raw", b)),
)


def _header(text):
    # What can travel in an HTTP header: latin-1 octets, no line breaks.
    raw = text.encode("utf-8", "surrogatepass").decode("latin-1")
    return raw.replace("\r", "").replace("\n", "")


def _send(client, method, path, body, headers=None):
    kind, payload = body
    data = json.dumps(payload) if kind == "json" else payload
    answer = client.open(
        path, method=method, data=data, content_type="application/json", headers=headers or {}
    )
    assert answer.status_code < 500, (path, body, answer.get_data(as_text=True))
    if answer.status_code >= 400:
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json
        assert {"type", "title", "status", "detail"} <= set(problem)
    return answer


# Limits high enough that generated inputs reach validation (the limits have their own tests).
NO_LIMITS = {
    name: "1000000 per minute"
    for name in (
        "ratelimit_default",
        "ratelimit_submit",
        "ratelimit_verify",
        "ratelimit_resend",
        "ratelimit_per_request",
        "ratelimit_login",
        "ratelimit_wrong_codes_per_contact_ip",
        "ratelimit_wrong_codes_per_contact",
        "ratelimit_codes_per_contact_ip",
        "ratelimit_codes_per_contact",
        "ratelimit_login_failures_per_account_ip",
        "ratelimit_login_failures_per_account",
    )
}


@pytest.fixture
def app(make_app):
    """The app of the ``client`` and ``verified`` fixtures, without limits in the way."""
    return make_app(**NO_LIMITS)


@pytest.fixture
def fuzz_app(make_app):
    # Outbox delivery keeps the fuzz loop off the network.
    return make_app(smtp_host="", **NO_LIMITS)


def test_fuzz_submit(fuzz_app):
    client = fuzz_app.test_client()

    @FUZZ
    @given(body=bodies, key=st.none() | st.text(max_size=300))
    def run(body, key):
        headers = {"Idempotency-Key": _header(key)} if key is not None else {}
        _send(client, "POST", "/api/v1/requests", body, headers)

    run()


@pytest.fixture
def open_request(fuzz_app):
    client = fuzz_app.test_client()
    answer = client.post("/api/v1/requests", json={"type": "access", "email": "fuzz@example.com"})
    return client, answer.json["id"]


request_ids = st.one_of(
    st.uuids().map(str), st.text(max_size=60).map(lambda t: urllib.parse.quote(t, safe=""))
)


def test_fuzz_verify(open_request):
    client, rid = open_request

    @FUZZ
    @given(body=bodies, other=st.none() | request_ids)
    def run(body, other):
        _send(client, "POST", f"/api/v1/requests/{other or rid}/verify", body)

    run()


def test_fuzz_resend(open_request):
    client, rid = open_request

    @FUZZ
    @given(body=bodies, other=st.none() | request_ids)
    def run(body, other):
        _send(client, "POST", f"/api/v1/requests/{other or rid}/resend-code", body)

    run()


tokens = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        ["Bearer ", "Bearer a.b.c", "Basic Zm9vOmJhcg==", "bearer eyJhbGciOiJub25lIn0.e30."]
    ),
)


def test_fuzz_status_and_cancel(verified, client):
    rid, token = verified()

    @settings(FUZZ, max_examples=examples(400))
    @given(
        auth=st.none() | tokens,
        other=st.none() | request_ids,
        body=bodies,
        method=st.sampled_from(["GET", "POST"]),
    )
    def run(auth, other, body, method):
        headers = {"Authorization": _header(auth)} if auth is not None else {}
        path = f"/api/v1/requests/{other or rid}" + ("/cancel" if method == "POST" else "")
        if method == "GET":
            answer = client.get(path, headers=headers)
            assert answer.status_code < 500
        else:
            _send(client, "POST", path, body, headers)

    run()
    # The real token still works after all that.
    assert client.get(f"/api/v1/requests/{rid}", headers=bearer(token)).status_code == 200


SERVICE_TOKEN = "fuzz-service-token-0123456789abcdef"
documents = st.fixed_dictionaries(
    {},
    optional={
        "customer_ref": weird_text | json_values,
        "subject_id": st.uuids().map(str) | weird_text,
        "id_number": st.sampled_from(
            ["11010519491231002X", "11010519491231002x", "110105194912310021"]
        )
        | st.text(alphabet="0123456789Xx ", max_size=25)
        | json_values,
        "holder_name": weird_text | json_values,
        "extra": json_values,
    },
).map(lambda b: ("json", b))


def test_fuzz_identity_documents(make_app):
    app = make_app(smtp_host="", service_tokens=f"customs:{SERVICE_TOKEN}", **NO_LIMITS)
    with app.app_context():
        from privacy_service.subjects.directory import register

        rt = app.extensions["privacy"]
        register(rt.db.session, email="doc@example.com", external_ref="ref-1")
        rt.db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}

    @settings(FUZZ, max_examples=examples(450))
    @given(body=documents | bodies, path=st.sampled_from(["", "/search"]), auth=st.booleans())
    def run(body, path, auth):
        _send(client, "POST", f"/api/v1/identity-documents{path}", body, headers if auth else {})

    run()

    @settings(FUZZ, max_examples=examples(250))
    @given(
        doc=request_ids,
        purpose=st.none() | st.text(max_size=30),
        method=st.sampled_from(["GET", "DELETE"]),
    )
    def read(doc, purpose, method):
        query = "" if purpose is None else "?purpose=" + urllib.parse.quote(purpose, safe="")
        answer = client.open(
            f"/api/v1/identity-documents/{doc}{query}", method=method, headers=headers
        )
        assert answer.status_code < 500

    read()
