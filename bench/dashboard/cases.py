"""The pages the goals name, each with the check of its answer; the signed-in member and the ids
the cases use."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from bench.dashboard import (
    AUDIT_MS,
    AUDIT_ROWS,
    ONLY,
    PAGE_MS,
    PASSWORD,
    QUEUE_MS,
    REPORT_MS,
    ROWS,
    STAFF,
)
from bench.dashboard.measure import rows_shown
from bench.harness import BenchError
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests import lifecycle
from privacy_service.team.accounts import StaffUser, create


def sign_in(client, email: str) -> str:
    """Sign a member in; the session's CSRF token."""
    page = client.get("/staff/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post("/staff/login", data={"csrf": csrf, "email": email, "password": PASSWORD})
    if answer.status_code != 302:
        raise BenchError(f"sign-in failed: HTTP {answer.status_code}")
    page = client.get("/staff/requests").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def staff_accounts(app, rt) -> list[str]:
    """The bench's staff accounts (made once), by id; the admin first."""
    with app.app_context():
        s = rt.db.session
        ids = []
        for i, email in enumerate(STAFF):
            user = s.scalars(sa.select(StaffUser).where(StaffUser.email == email)).first()
            if user is None:
                user = create(
                    s, email=email, role="admin" if i == 0 else "agent", password=PASSWORD
                )
                s.commit()
            ids.append(user.id)
        return ids


def samples_for(engine) -> dict:
    """Ids the cases use: a request found by e-mail, one in the middle, deep cursors."""
    with engine.connect() as conn:
        q = conn.exec_driver_sql
        out = {
            "some_row": q(
                "SELECT id FROM requests ORDER BY id OFFSET %s LIMIT 1", (ROWS // 2,)
            ).scalar_one(),
            "deep_seq": q(
                "SELECT seq FROM audit_entries ORDER BY seq LIMIT 1 OFFSET %s", (AUDIT_ROWS // 2,)
            ).scalar_one(),
            "year_ago": (dt.date.today() - dt.timedelta(days=365)).isoformat(),
        }
        out["timeline_row"] = q(
            "SELECT request_id FROM audit_entries WHERE request_id IS NOT NULL ORDER BY seq DESC "
            "LIMIT 1"
        ).scalar_one()
    return out


def api_request(client) -> str:
    """A request made through the public API (its contact is sealed, unlike the seeded rows')."""
    answer = client.post(
        "/api/v1/requests",
        json={"type": "access", "email": "bench.page@example.org"},
    )
    if answer.status_code != 202:
        raise BenchError(f"POST /api/v1/requests: HTTP {answer.status_code} {answer.get_data()!r}")
    return answer.get_json()["id"]


def _ok(response) -> None:
    if response.status_code != 200:
        raise BenchError(f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")


def _rows(n: int):
    def check(response) -> None:
        _ok(response)
        if rows_shown(response.get_data(as_text=True)) != n:
            raise BenchError(f"a queue page without {n} rows")

    return check


def _contains(text: str):
    def check(response) -> None:
        _ok(response)
        if text not in response.get_data(as_text=True):
            raise BenchError(f"the page does not show {text!r}")

    return check


def _audit_rows(response) -> None:
    _ok(response)
    if response.get_data(as_text=True).count("<tr") < 2:
        raise BenchError("an audit page without entries")


def cases(client, csrf: str, samples: dict, staff_ids: list[str]) -> list[tuple]:
    """(name, goal ms, call, check) for every page the goals name."""

    def get(path):
        return lambda: client.get(path)

    def search(q):
        return lambda: client.post("/staff/requests", data={"csrf": csrf, "q": q})

    def deep(path, clicks):
        # A deep page reached the way a member reaches it: following "next" from the first.
        clicks = min(clicks, max(1, ROWS // 20_000))  # a small trial database has fewer pages
        url = path
        for _ in range(clicks):
            body = client.get(url).get_data(as_text=True)
            found = re.search(r'href="\?([^"]+)" rel="next"', body)
            if not found:
                raise BenchError(f"no next page after {url}")
            url = "/staff/requests?" + found.group(1).replace("&amp;", "&")
        return url

    q = "/staff/requests"
    full = _rows(50)
    out = [
        ("queue: default (open, by due date)", QUEUE_MS, get(q), full),
        ("queue: my requests", QUEUE_MS, get(q + "?assignee=me"), full),
        ("queue: my overdue", QUEUE_MS, get(q + "?assignee=me&overdue=1"), _ok),
        ("queue: unassigned", QUEUE_MS, get(q + "?assignee=none"), full),
        ("queue: unassigned, 200 a page", QUEUE_MS, get(q + "?assignee=none&size=200"), _rows(200)),
        ("queue: overdue", QUEUE_MS, get(q + "?overdue=1"), full),
        ("queue: due within 3", QUEUE_MS, get(q + "?due_within=3"), _ok),
        ("queue: waiting for the customer", QUEUE_MS, get(q + "?waiting=1"), full),
        ("queue: all (closed too)", QUEUE_MS, get(q + "?all=1"), full),
        (f"queue: assignee={STAFF[1]}", QUEUE_MS, get(q + f"?assignee={staff_ids[1]}"), full),
    ]
    out += [
        (f"queue: status={s}", QUEUE_MS, get(q + f"?status={s}"), full) for s in lifecycle.STATUSES
    ]
    out += [(f"queue: type={t}", QUEUE_MS, get(q + f"?type={t}"), full) for t in REQUEST_TYPES]
    out += [
        ("queue: type=deletion&all=1", QUEUE_MS, get(q + "?type=deletion&all=1"), full),
        (
            "queue: status=completed&type=correction",
            QUEUE_MS,
            get(q + "?status=completed&type=correction"),
            full,
        ),
    ]
    for col in ("due", "received", "type", "status", "assignee"):
        for d in ("", "desc"):
            out.append(
                (f"queue: sort={col} {d or 'asc'}", QUEUE_MS, get(q + f"?sort={col}&dir={d}"), full)
            )
    out += [
        (
            "queue: all, sort=received desc",
            QUEUE_MS,
            get(q + "?all=1&sort=received&dir=desc"),
            full,
        ),
        ("queue: all, sort=assignee", QUEUE_MS, get(q + "?all=1&sort=assignee"), full),
        ("queue: page 2", QUEUE_MS, get(deep(q, 1)), full),
        ("queue: page 100 (next x99)", QUEUE_MS, get(deep(q, 99)), full),
        ("queue: all, page 2", QUEUE_MS, get(deep(q + "?all=1", 1)), full),
        ("queue: all, page 100 (next x99)", QUEUE_MS, get(deep(q + "?all=1", 99)), full),
        (
            "queue: all, sort=assignee, page 60",
            QUEUE_MS,
            get(deep(q + "?all=1&sort=assignee", 59)),
            full,
        ),
        (
            "queue: search request id (POST)",
            QUEUE_MS,
            search(samples["some_row"]),
            _contains(samples["some_row"][:13]),
        ),
        (
            "queue: search id prefix (POST)",
            QUEUE_MS,
            search(samples["some_row"][:13]),
            _contains(samples["some_row"][:13]),
        ),
        ("queue: search e-mail (POST)", QUEUE_MS, search("user123@example.net"), _ok),
        ("overview /staff/", QUEUE_MS, get("/staff/"), _ok),
        ("request page (API-made, sealed contact)", PAGE_MS, get(f"{q}/{samples['api_row']}"), _ok),
        (
            "request page (seeded, 8 audit entries)",
            PAGE_MS,
            get(f"{q}/{samples['timeline_row']}"),
            _ok,
        ),
    ]
    a = "/staff/audit"
    day = samples["year_ago"]
    out += [
        ("audit: first page", AUDIT_MS, get(a), _audit_rows),
        ("audit: actor=system", AUDIT_MS, get(a + "?actor=system"), _audit_rows),
        (
            "audit: actor=staff member",
            AUDIT_MS,
            get(a + f"?actor=staff:{staff_ids[2]}"),
            _audit_rows,
        ),
        ("audit: action=staff.login (rare)", AUDIT_MS, get(a + "?action=staff.login"), _audit_rows),
        (
            "audit: action=request.status_changed",
            AUDIT_MS,
            get(a + "?action=request.status_changed"),
            _audit_rows,
        ),
        (
            "audit: request=<id>",
            AUDIT_MS,
            get(a + f"?request={samples['timeline_row']}"),
            _audit_rows,
        ),
        (
            "audit: request=<first 13 chars>",
            AUDIT_MS,
            get(a + f"?request={samples['timeline_row'][:13]}"),
            _audit_rows,
        ),
        ("audit: one day a year ago", AUDIT_MS, get(a + f"?from={day}&to={day}"), _audit_rows),
        ("audit: from a year ago (open end)", AUDIT_MS, get(a + f"?from={day}"), _audit_rows),
        ("audit: up to a year ago", AUDIT_MS, get(a + f"?to={day}"), _audit_rows),
        (
            "audit: actor=system, up to a year ago",
            AUDIT_MS,
            get(a + f"?actor=system&to={day}"),
            _audit_rows,
        ),
        (
            "audit: action=staff.login, a year ago",
            AUDIT_MS,
            get(a + f"?action=staff.login&to={day}"),
            _audit_rows,
        ),
        (
            "audit: actor=customer&action=request.received",
            AUDIT_MS,
            get(a + "?actor=customer&action=request.received"),
            _ok,
        ),
        (
            "audit: deep page (seq 5,000,000)",
            AUDIT_MS,
            get(a + f"?before={samples['deep_seq']}"),
            _audit_rows,
        ),
        (
            "audit: deep page, newer",
            AUDIT_MS,
            get(a + f"?after={samples['deep_seq']}"),
            _audit_rows,
        ),
        (
            "audit: actor=system, deep page",
            AUDIT_MS,
            get(a + f"?actor=system&before={samples['deep_seq']}"),
            _audit_rows,
        ),
    ]
    today = dt.date.today()
    periods = {
        "default (3 months)": "",
        "this month": f"?from={today.replace(day=1)}&to={today}",
        "one year": f"?from={today - dt.timedelta(days=365)}&to={today}",
        "two years": f"?from={today - dt.timedelta(days=730)}&to={today}",
        "a past quarter": f"?from={today - dt.timedelta(days=400)}"
        f"&to={today - dt.timedelta(days=310)}",
    }
    out += [
        (f"reports: {k}", REPORT_MS, get("/staff/reports" + v), _ok) for k, v in periods.items()
    ]
    out += [
        ("reports CSV: default", REPORT_MS, get("/staff/reports.csv"), _ok),
        (
            "reports CSV: two years",
            REPORT_MS,
            get("/staff/reports.csv" + periods["two years"]),
            _ok,
        ),
    ]
    return [c for c in out if ONLY in c[0]]
