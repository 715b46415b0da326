"""What lets the dashboard stay fast at a million requests keep the figures and pages right:
capped counts, keyset pages of the queue and the audit log (never a row skipped or shown
twice), the assignee's sort key, and the reports' per-day figures against a direct computation
over the requests (after a full build and after incremental refreshes)."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter

import pytest
from sqlalchemy import select, update
from staffpages import csrf_of, login

from privacy_service import audit
from privacy_service.audit import AuditEntry
from privacy_service.calendar import receipt_day
from privacy_service.db import new_id, utcnow
from privacy_service.policies.requests import REQUEST_TYPES
from privacy_service.requests import lifecycle
from privacy_service.requests.models import DataRequest
from privacy_service.team import aggregates
from privacy_service.web.dashboard import queries, reports
from privacy_service.web.dashboard.queries import QueueFilter


def _seed(session, team, n: int = 80, seed: int = 7) -> list[DataRequest]:
    """``n`` requests over the last 120 days, in every status and type, with ties of due date,
    some assigned (the sort key as assignment sets it)."""
    rng = random.Random(seed)
    now = utcnow()
    members = [None, team["agent"], team["agent2"], team["admin"]]
    rows = []
    for _ in range(n):
        received = now - dt.timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1440))
        status = rng.choice(lifecycle.STATUSES)
        changed = min(now, received + dt.timedelta(days=rng.randint(0, 30)))
        member = rng.choice(members)
        r = DataRequest(
            id=new_id(),
            type=rng.choice(REQUEST_TYPES),
            status=status,
            jurisdiction="cn",
            contact_kind="email",
            contact_enc=b"\x00",
            language="zh-CN",
            received_at=received,
            # Few distinct due dates: many ties, ordered by id.
            due_date=receipt_day(received).replace(day=1) + dt.timedelta(days=20),
            status_changed_at=changed,
            closed_at=changed if status in lifecycle.TERMINAL else None,
            assignee_id=member.id if member else None,
            assignee_sort=member.email if member else "",
        )
        session.add(r)
        rows.append(r)
    session.commit()
    return rows


def _key(f: QueueFilter):
    columns = [c.key for c in queries.SORTS[f.sort]]
    return lambda r: tuple(getattr(r, c) for c in columns)


@pytest.mark.parametrize("sort", sorted(queries.SORTS))
def test_keyset_pages_walk_every_row_once_forward_and_back(session, team, sort):
    rows = _seed(session, team)
    for desc in (False, True):
        for closed_too in (False, True):
            f = QueueFilter(sort=sort, desc=desc, all=closed_too, size=25)
            expected = sorted(
                (r for r in rows if closed_too or r.status not in lifecycle.TERMINAL),
                key=_key(f),
                reverse=desc,
            )
            stmt = select(DataRequest).where(*f.conditions("", receipt_day(utcnow()), None))
            pages, more = [], True
            while more:
                page, more, earlier = queries.page_of(session, stmt, f)
                assert earlier == bool(pages)
                pages.append([r.id for r in page])
                f.after, f.before = page[-1].id, ""
            assert [i for p in pages for i in p] == [r.id for r in expected]
            # Back from the last page, "previous" gives each page again, the same rows.
            for wanted in reversed(pages[:-1]):
                f.before, f.after = page[0].id, ""
                page, more, _ = queries.page_of(session, stmt, f)
                assert [r.id for r in page] == wanted and more
            f.before = page[0].id
            assert queries.page_of(session, stmt, f)[0::2] == ([], False), "nothing before page 1"


def test_queue_next_and_previous_links_follow_the_keyset(client, session, team):
    rows = _seed(session, team, n=90)
    open_ids = {r.id for r in rows if r.status not in lifecycle.TERMINAL}
    login(client, "agent@shop.example")
    url, seen, pages = "/staff/requests?size=25&sort=assignee&dir=desc", [], []
    while url:
        html = client.get(url).get_data(as_text=True)
        ids = re.findall(r'href="/staff/requests/([0-9a-f-]{36})"', html)
        seen += ids
        pages.append((url, ids))
        nxt = re.search(r'href="\?([^"]+)" rel="next"', html)
        url = "/staff/requests?" + nxt.group(1).replace("&amp;", "&") if nxt else None
    assert len(seen) == len(set(seen)) and set(seen) == open_ids
    assert f"第 {len(pages)} 页" in html
    prev = re.search(r'href="\?([^"]+)" rel="prev"', html).group(1).replace("&amp;", "&")
    back = client.get("/staff/requests?" + prev).get_data(as_text=True)
    assert re.findall(r'href="/staff/requests/([0-9a-f-]{36})"', back) == pages[-2][1]
    assert f"第 {len(pages) - 1} 页" in back


def test_counts_stop_at_the_cap_and_say_so(client, session, team, monkeypatch):
    rows = _seed(session, team, n=40)
    open_rows = [r for r in rows if r.status not in lifecycle.TERMINAL]
    assert queries.count(session, [queries.open_requests()]) == len(open_rows)
    assert queries.count(session, [queries.open_requests()], cap=5) == 6
    assert queries.count_label(6, cap=5) == "5+" and queries.count_label(5, cap=5) == "5"
    assert queries.count_label(1234) == "1,000+" and queries.count_label(999) == "999"
    both = queries.counts(session, {"open": [queries.open_requests()], "all": []}, cap=5)
    assert both == {"open": 6, "all": 6}
    login(client, "agent@shop.example")
    html = client.get("/staff/requests?all=1").get_data(as_text=True)
    assert f"{len(rows)} 个请求" in html
    monkeypatch.setattr(queries, "COUNT_CAP", 5)
    client.post("/staff/views", data={"csrf": csrf_of(client, "/staff/requests"), "name": "x"})
    html = client.get("/staff/requests?all=1").get_data(as_text=True)
    assert "5+ 个请求 requests" in html


def test_assignment_sets_the_sort_key(client, session, team, verified):
    rid, _ = verified(type="deletion", categories=["browsing"])
    login(client, "agent2@shop.example")
    csrf = csrf_of(client, "/staff/requests")
    client.post(f"/staff/requests/{rid}/assign", data={"csrf": csrf, "to": "me"})
    session.expire_all()
    assert session.get(DataRequest, rid).assignee_sort == "agent2@shop.example"
    client.post(f"/staff/requests/{rid}/assign", data={"csrf": csrf, "to": ""})
    session.expire_all()
    r = session.get(DataRequest, rid)
    assert r.assignee_id is None and r.assignee_sort == ""


def _direct(session, calendar, since: dt.date, until: dt.date) -> dict:
    """The report's figures computed from the requests themselves, row by row."""
    days, by_type, weeks, on_time = Counter(), Counter(), Counter(), 0
    for r in session.scalars(select(DataRequest)):
        received = receipt_day(r.received_at)
        if r.closed_at is not None and since <= receipt_day(r.closed_at) <= until:
            closed = receipt_day(r.closed_at)
            days[max(0, calendar.working_days_between(received, closed))] += 1
            by_type[r.type] += 1
            on_time += closed <= r.due_date
        if since <= received <= until:
            year, week, _ = received.isocalendar()
            weeks[(f"{year}-W{week:02d}", r.type)] += 1
    return {
        "closed": sum(by_type.values()),
        "on_time": on_time,
        "median": reports._percentile(days, 0.5),
        "p90": reports._percentile(days, 0.9),
        "by_type": dict(by_type),
        "weeks": dict(weeks),
    }


def _from_tables(session, calendar, since, until) -> dict:
    rep = reports.build(session, calendar, since, until, receipt_day(utcnow()))
    return {
        "closed": rep.closed,
        "on_time": rep.on_time,
        "median": rep.median_days,
        "p90": rep.p90_days,
        "by_type": rep.closed_by_type,
        "weeks": {(w, t): n for w, counts in rep.weeks for t, n in counts.items() if n},
    }


def test_report_figures_match_a_direct_computation_after_build_and_refreshes(session, rt, team):
    calendar = rt.policies.calendar
    rows = _seed(session, team, n=120, seed=11)
    today = receipt_day(utcnow())
    periods = [(today - dt.timedelta(days=d), today) for d in (7, 30, 130)]
    periods.append((today - dt.timedelta(days=60), today - dt.timedelta(days=20)))
    done = aggregates.refresh(session, calendar)
    session.commit()
    assert done.full
    for since, until in periods:
        assert _from_tables(session, calendar, since, until) == _direct(
            session, calendar, since, until
        )
    # Changes after the build: closures now, a request logged today as received 40 days ago.
    for r in [r for r in rows if r.status == lifecycle.AWAITING_REVIEW][:5]:
        lifecycle.transition(session, r, lifecycle.REJECTED, actor="system")
    late = _seed(session, team, n=1, seed=99)[0]
    late.received_at = utcnow() - dt.timedelta(days=40)
    late.status_changed_at = utcnow()
    session.commit()
    done = aggregates.refresh(session, calendar)
    session.commit()
    assert not done.full and done.received_days >= 1 and done.closed_days >= 1
    for since, until in periods:
        assert _from_tables(session, calendar, since, until) == _direct(
            session, calendar, since, until
        )
    # A refresh with nothing changed since rewrites only what the margin covers, same figures.
    aggregates.refresh(session, calendar)
    session.commit()
    since, until = periods[2]
    assert _from_tables(session, calendar, since, until) == _direct(session, calendar, since, until)


def test_report_page_shows_when_its_figures_were_refreshed(client, session, team):
    _seed(session, team, n=10)
    login(client, "auditor@shop.example")
    html = client.get("/staff/reports").get_data(as_text=True)
    stamp = re.search(
        r'id="as-of">数字截至 Figures as of (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)', html
    ).group(1)
    at = aggregates.refreshed_at(session)
    from privacy_service.web.dashboard.common import SHANGHAI

    assert stamp == at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    # Older than a minute: the next view refreshes first.
    session.execute(
        update(aggregates.ReportState).values(refreshed_at=at - dt.timedelta(minutes=2))
    )
    session.commit()
    client.get("/staff/reports")
    session.expire_all()
    assert aggregates.refreshed_at(session) > at - dt.timedelta(seconds=1)


def test_overview_counts_by_status_match_the_requests(client, session, team):
    rows = _seed(session, team, n=60, seed=3)
    login(client, "auditor@shop.example")
    html = client.get("/staff/").get_data(as_text=True)
    counts = Counter(r.status for r in rows)
    shown = re.findall(r'<div class="num">(\d+)</div>', html)
    assert [int(n) for n in shown] == [counts.get(s, 0) for s in lifecycle.STATUSES]


def test_audit_pages_walk_every_entry_once_with_and_without_filters(client, session, team):
    for i in range(130):
        audit.record(
            session,
            "staff.login" if i % 3 else "report.exported",
            actor="system" if i % 2 else f"staff:{team['admin'].id}",
        )
        if i % 7 == 0:
            session.commit()
    session.commit()
    login(client, "auditor@shop.example")
    for query in ("", "action=staff.login", "actor=system", "actor=system&action=staff.login"):
        where = []
        if "action" in query:
            where.append(AuditEntry.action == "staff.login")
        if "actor" in query:
            where.append(AuditEntry.actor == "system")
        expected = session.scalars(
            select(AuditEntry.seq)
            .where(*where)
            .order_by(AuditEntry.at.desc(), AuditEntry.seq.desc())
        ).all()
        url, seen, pages = f"/staff/audit?{query}", [], []
        while url:
            html = client.get(url).get_data(as_text=True)
            seqs = [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", html)]
            pages.append(seqs)
            seen += seqs
            older = re.search(r'href="\?([^"]*before=[^"]+)"', html)
            url = "/staff/audit?" + older.group(1).replace("&amp;", "&") if older else None
        assert seen == list(expected), query
        if len(pages) < 2:
            continue
        newer = re.search(r'href="\?([^"]*after=[^"]+)"', html).group(1).replace("&amp;", "&")
        back = client.get("/staff/audit?" + newer).get_data(as_text=True)
        assert [int(s) for s in re.findall(r"<tr><td>(\d+)</td>", back)] == pages[-2]


def test_the_scheduled_jobs_refresh_and_rebuild_the_figures(session, rt, team):
    from privacy_service.jobs import JOBS, run_job
    from privacy_service.web.dashboard.jobinfo import NAMES

    calendar = rt.policies.calendar
    _seed(session, team, n=30, seed=5)
    today = receipt_day(utcnow())
    since = today - dt.timedelta(days=130)
    jobs = {s.id: s for s in JOBS}
    assert {"reports.refresh", "reports.rebuild"} <= set(NAMES)
    assert run_job(rt, jobs["reports.rebuild"]) > 0
    session.expire_all()
    assert _from_tables(session, calendar, since, today) == _direct(session, calendar, since, today)
    before = aggregates.refreshed_at(session)
    session.rollback()  # end the read (on SQLite every transaction holds the write lock)
    run_job(rt, jobs["reports.refresh"])
    session.expire_all()
    assert aggregates.refreshed_at(session) >= before
