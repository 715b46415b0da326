"""Rate limits: per IP on every endpoint, per-contact budgets of wrong codes and codes sent.

The attack these stop (issue 13, item 1): file a new request for a victim, make 5 guesses on
its code, repeat. Without a per-contact budget every new request bought 5 more guesses.
"""

import re
import uuid

import pytest
import redis

A = {"REMOTE_ADDR": "10.0.0.1"}
B = {"REMOTE_ADDR": "10.0.0.2"}


def _new(client, contact="victim@example.com", env=A):
    answer = client.post(
        "/api/v1/requests", json={"type": "access", "email": contact}, environ_base=env
    )
    assert answer.status_code == 202, answer.json
    return answer.json["id"]


def _guess(client, rid, code="000000", env=A):
    return client.post(f"/api/v1/requests/{rid}/verify", json={"code": code}, environ_base=env)


def _brute_force(client, guesses, env=A, contact="victim@example.com"):
    """File requests and guess 5 times on each until refused.

    Returns one letter per guess: W (wrong; the 5th voids the code) or L (rate-limited).
    """
    out = []
    while len(out) < guesses:
        rid = _new(client, contact, env)
        for _ in range(5):
            answer = _guess(client, rid, env=env)
            limited = answer.status_code == 429 and answer.json["type"].endswith("/rate-limited")
            assert limited or answer.status_code in (400, 429)
            out.append("L" if limited else "W")
            if limited:
                return out
    return out


def _assert_problem_429(answer):
    assert answer.status_code == 429
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.json["status"] == 429


def test_new_requests_buy_no_new_guesses(client):
    guesses = _brute_force(client, 60)
    assert guesses == ["W"] * 20 + ["L"], "20 wrong codes per contact and IP per hour by default"
    rid = _new(client)
    refused = _guess(client, rid)
    _assert_problem_429(refused)
    assert refused.json["type"].endswith("/rate-limited")
    assert 3000 < int(refused.headers["Retry-After"]) <= 3601


def test_the_budget_stops_even_the_right_code_but_not_the_customer_elsewhere(
    client, customer, code_from
):
    customer(email="victim@example.com")
    _brute_force(client, 60)
    rid = _new(client)
    assert _guess(client, rid, code_from(rid=rid), env=A).status_code == 429
    # The customer, from their own address, is not locked out by a stranger's guesses.
    assert _guess(client, rid, code_from(rid=rid), env=B).status_code == 200


def test_the_contact_wide_ceiling_catches_spread_out_guessing(make_app):
    app = make_app(
        ratelimit_wrong_codes_per_contact_ip="10 per hour",
        ratelimit_wrong_codes_per_contact="12 per day",
    )
    client = app.test_client()
    first = _brute_force(client, 40, env=A)
    second = _brute_force(client, 40, env=B)
    assert first == ["W"] * 10 + ["L"] and second == ["W", "W", "L"]
    assert _brute_force(client, 5, env={"REMOTE_ADDR": "10.0.0.3"}) == ["L"]


def test_right_codes_do_not_use_up_the_budget(make_app, customer, code_from):
    app = make_app(ratelimit_wrong_codes_per_contact_ip="2 per hour")
    client = app.test_client()
    customer(email="demo@example.com")
    for _ in range(5):
        rid = _new(client, "demo@example.com")
        assert _guess(client, rid, code_from(rid=rid)).status_code == 200
    rid = _new(client, "demo@example.com")
    assert [_guess(client, rid).status_code for _ in range(3)] == [400, 400, 429]


def test_codes_sent_per_contact_are_capped_the_same_for_unknown_contacts(make_app):
    app = make_app(ratelimit_codes_per_contact_ip="3 per day")
    client = app.test_client()
    for contact in ("known@example.com", "nobody@example.com"):
        for _ in range(3):
            _new(client, contact)
        over = client.post(
            "/api/v1/requests", json={"type": "access", "email": contact}, environ_base=A
        )
        _assert_problem_429(over)
    # Resends count too.
    app = make_app(ratelimit_codes_per_contact_ip="2 per day")
    client = app.test_client()
    rid = _new(client)
    assert client.post(f"/api/v1/requests/{rid}/resend-code", environ_base=A).status_code == 202
    _assert_problem_429(client.post(f"/api/v1/requests/{rid}/resend-code", environ_base=A))


def _csrf(client, env):
    page = client.get("/", environ_base=env).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_api_calls_from_a_stranger_do_not_lock_the_customer_out_of_the_page(make_app):
    app = make_app(ratelimit_codes_per_contact_ip="5 per hour")
    client = app.test_client()
    for _ in range(5):
        _new(client, "victim@example.com", env=A)
    assert (
        client.post(
            "/api/v1/requests",
            json={"type": "access", "email": "victim@example.com"},
            environ_base=A,
        ).status_code
        == 429
    )
    page = app.test_client()
    form = {"csrf": _csrf(page, B), "type": "access", "contact": "victim@example.com"}
    assert page.post("/", data=form, environ_base=B).status_code == 303
    # The stranger cannot switch to the page to get more.
    page_a = app.test_client()
    form["csrf"] = _csrf(page_a, A)
    refused = page_a.post("/", data=form, environ_base=A)
    assert refused.status_code == 429 and "text/html" in refused.headers["Content-Type"]
    assert int(refused.headers["Retry-After"]) > 0


def test_per_ip_limits_are_shared_between_api_and_pages(make_app):
    app = make_app(ratelimit_submit="3 per minute")
    client = app.test_client()
    for n in range(3):
        _new(client, f"c{n}@example.com")
    over = client.post(
        "/api/v1/requests", json={"type": "access", "email": "x@example.com"}, environ_base=A
    )
    _assert_problem_429(over)
    form = {"csrf": _csrf(client, A), "type": "access", "contact": "y@example.com"}
    page = client.post("/", data=form, environ_base=A)
    assert page.status_code == 429 and "text/html" in page.headers["Content-Type"]
    assert "<html" in page.get_data(as_text=True).lower()
    assert int(page.headers["Retry-After"]) > 0
    assert _new(client, "z@example.com", env=B)


def test_every_endpoint_has_a_per_ip_ceiling_but_probes_do_not(make_app):
    app = make_app(ratelimit_default="3 per minute")
    client = app.test_client()
    rid = str(uuid.uuid4())
    statuses = [client.get(f"/api/v1/requests/{rid}").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert [client.get("/staff/login").status_code for _ in range(4)][-1] == 429
    assert [client.get("/").status_code for _ in range(4)][-1] == 429
    assert client.get("/lang/en").status_code == 302


def test_one_request_is_limited_whoever_calls(make_app):
    app = make_app(ratelimit_per_request="4 per minute")
    client = app.test_client()
    rid = str(uuid.uuid4())
    statuses = [
        _guess(client, rid, env={"REMOTE_ADDR": f"10.1.0.{n}"}).status_code for n in range(5)
    ]
    assert statuses == [404] * 4 + [429]


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(make_app):
    def statuses(client, prefix):
        """Three submissions, each forwarded for another address: their statuses."""
        return [
            client.post(
                "/api/v1/requests",
                json={"type": "access", "email": f"{prefix}{n}@example.com"},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            ).status_code
            for n in range(3)
        ]

    untrusted = make_app(ratelimit_submit="2 per minute").test_client()
    assert statuses(untrusted, "u") == [202, 202, 429]
    trusted = make_app(ratelimit_submit="2 per minute", trusted_proxies=1).test_client()
    assert statuses(trusted, "t") == [202, 202, 202]


def test_redis_store_is_shared_between_processes(make_app):
    prefix = f"test-{uuid.uuid4().hex}"
    url = "redis://127.0.0.1:6379/1"
    settings = {
        "ratelimit_storage_url": url,
        "ratelimit_key_prefix": prefix,
        "ratelimit_wrong_codes_per_contact_ip": "10 per hour",
    }
    one = make_app(**settings).test_client()
    two = make_app(**settings).test_client()
    try:
        for n in range(5):
            rid = _new(one if n % 2 else two)
            for _ in range(2):
                assert _guess(one if n % 2 else two, rid).status_code == 400
        _assert_problem_429(_guess(one, _new(two)))
        conn = redis.Redis.from_url(url)
        keys = [k.decode() for k in conn.scan_iter(f"*{prefix}*")]
        assert keys, "the counts live in Redis"
        assert not any("victim" in k for k in keys), "contacts are stored as blind indexes"
    finally:
        conn = redis.Redis.from_url(url)
        for key in conn.scan_iter(f"*{prefix}*"):
            conn.delete(key)


def test_a_dead_store_refuses_guesses_rather_than_allowing_them(make_app):
    app = make_app(ratelimit_storage_url="redis://127.0.0.1:1/1")
    client = app.test_client()
    answer = client.post(
        "/api/v1/requests", json={"type": "access", "email": "x@example.com"}, environ_base=A
    )
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize("setting", ["ratelimit_verify", "ratelimit_wrong_codes_per_contact"])
def test_bad_limit_settings_are_refused_at_start(make_app, setting):
    from privacy_service.config import ConfigError

    with pytest.raises(ConfigError, match=setting.upper()):
        make_app(**{setting: "lots"})


def test_the_page_answers_a_spent_budget_with_a_page(client):
    _brute_force(client, 60)
    rid = _new(client)
    form = {"csrf": _csrf(client, A), "code": "123456"}
    refused = client.post(f"/r/{rid}/verify", data=form, environ_base=A)
    assert refused.status_code == 429 and "text/html" in refused.headers["Content-Type"]
    assert int(refused.headers["Retry-After"]) > 3000


def test_services_are_limited_per_token_not_per_address(make_app):
    token = "rate-test-service-token-0123456789"
    app = make_app(
        service_tokens=f"customs:{token}",
        ratelimit_default="3 per minute",
        ratelimit_service="5 per minute",
    )
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    path = "/api/v1/identity-documents/search"
    statuses = [client.post(path, json={}, headers=auth).status_code for _ in range(6)]
    assert statuses[:5] == [422] * 5 and statuses[5] == 429
    anonymous = [client.post(path, json={}).status_code for _ in range(4)]
    assert anonymous[:3] != [429] * 3 and anonymous[3] == 429, "others: the per-IP limit"
