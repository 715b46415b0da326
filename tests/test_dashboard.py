"""The privacy team's dashboard: sign-in, lock-out, second factor, roles, queue, decisions;
and the same in a real browser."""

import re

import pyotp
import pytest
from staffpages import PASSWORD, csrf_of, deletion_request, login

from privacy_service.demo import seed
from privacy_service.requests.models import DataRequest
from privacy_service.team.accounts import create

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)


@pytest.fixture
def team(app, rt, session):
    users = {
        role: create(session, email=f"{role}@shop.example", role=role, password=PASSWORD)
        for role in ("agent", "admin", "auditor")
    }
    session.commit()
    return users


def test_pages_need_a_signed_in_member(client):
    answer = client.get("/staff/requests")
    assert answer.status_code == 302 and "/staff/login" in answer.headers["Location"]


@pytest.mark.slow  # six sign-ins, each a real Argon2 verification
def test_lock_out_after_repeated_failures(client, team):
    for _ in range(5):
        assert login(client, "agent@shop.example", "wrong password!").status_code == 401
    assert login(client, "agent@shop.example").status_code == 401, (
        "locked even with the right password"
    )


def test_second_factor_when_enrolled(client, session):
    user = create(session, email="tfa@shop.example", role="agent", password=PASSWORD, totp=True)
    session.commit()
    assert login(client, "tfa@shop.example").status_code == 401
    assert (
        login(client, "tfa@shop.example", code=pyotp.TOTP(user.totp_secret).now()).status_code
        == 302
    )


def test_auditor_reads_everything_and_changes_nothing(client, team, verified, session):
    rid = deletion_request(verified)
    assert login(client, "auditor@shop.example").status_code == 302
    for path in (
        "/staff/",
        "/staff/requests",
        f"/staff/requests/{rid}",
        "/staff/audit",
        "/staff/retention",
    ):
        assert client.get(path).status_code == 200, path
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    assert client.post(f"/staff/requests/{rid}/approve", data={"csrf": csrf}).status_code == 403
    assert (
        client.post(
            f"/staff/requests/{rid}/refuse", data={"csrf": csrf, "template": "legal"}
        ).status_code
        == 403
    )
    session.expire_all()
    assert session.get(DataRequest, rid).status == "awaiting_review"


def test_agent_decides_but_cannot_place_holds(client, team, verified, session):
    rid = deletion_request(verified)
    login(client, "agent@shop.example")
    csrf = csrf_of(client, f"/staff/requests/{rid}")
    held = client.post(
        f"/staff/requests/{rid}/hold", data={"csrf": csrf, "reason": "x", "until": "2030-01-01"}
    )
    assert held.status_code == 403
    assert client.post(f"/staff/requests/{rid}/approve", data={"csrf": "wrong"}).status_code == 400
    assert client.post(f"/staff/requests/{rid}/approve", data={"csrf": csrf}).status_code == 303
    session.expire_all()
    assert session.get(DataRequest, rid).status == "in_progress"


def test_search_by_id_number_goes_through_the_blind_index(app, rt, session, client, team, verified):
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=5)
    rid = deletion_request(verified)
    from privacy_service.subjects.directory import find_by_contact
    from privacy_service.subjects.identity import IdentityDocument

    demo = find_by_contact(session, "email", "demo@example.com")
    number = session.query(IdentityDocument).filter_by(subject_id=demo.id).one().id_number
    session.commit()
    login(client, "admin@shop.example")
    csrf = csrf_of(client, "/staff/requests")
    page = client.post("/staff/requests", data={"csrf": csrf, "q": number.lower()}).get_data(
        as_text=True
    )
    assert rid[:13] in page
    assert number not in page, "the page never shows the number itself"


def test_in_the_browser_login_queue_approve_refuse(
    live, team, verified, session, repo_root, new_context
):
    first, second = deletion_request(verified), deletion_request(verified)
    shots = repo_root / "test-artifacts"
    shots.mkdir(exist_ok=True)
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(live + "/staff/")
    page.get_by_label("邮箱 Email").fill("agent@shop.example")
    page.get_by_label("密码 Password").fill(PASSWORD)
    page.get_by_role("button", name="登录 Sign in").click()
    page.wait_for_url(re.compile(r"/staff/$"))
    assert page.locator("svg[role=img]").count() == 1
    page.screenshot(path=str(shots / "dashboard-overview.png"), full_page=True)
    page.get_by_role("link", name="队列 Queue").click()
    assert page.locator("#queue").get_by_role("link", name=first[:13]).count() == 1
    page.screenshot(path=str(shots / "dashboard-queue.png"), full_page=True)
    page.goto(f"{live}/staff/requests/{first}")
    page.locator("#approve").click()
    page.locator("#confirm").click()
    assert page.locator("#status").inner_text() == "处理中 In progress"
    page.goto(f"{live}/staff/requests/{second}")
    page.locator("#template").select_option("legal")
    page.locator("#refuse").click()
    assert page.locator("#status").inner_text() == "已拒绝 Refused"
    page.screenshot(path=str(shots / "dashboard-refused.png"), full_page=True)
    session.expire_all()
    assert session.get(DataRequest, second).reasons[0]["code"] == "legal"


@pytest.mark.every_backend  # days by the dialect's date functions
def test_overview_counts_on_time_closures(client, team, verified):
    rid, token = verified()  # an access request, cancelled at once: closed on time
    client.post(f"/api/v1/requests/{rid}/cancel", headers={"Authorization": f"Bearer {token}"})
    login(client, "auditor@shop.example")
    page = client.get("/staff/").get_data(as_text=True)
    month = __import__("datetime").datetime.now().strftime("%Y-%m")
    assert re.search(rf"<th scope=\"row\">{month}</th><td>1</td><td>1</td><td>100.0</td>", page), (
        page[-1500:]
    )
    assert "查阅复制 Access / copy: 1" in page
