"""Requests on someone else's behalf on the customer page and the staff request page.

The customer page: the "for someone else" path of the form (zh-CN and English), errors on the
right input, the requester's status page with the evidence upload, no privacy choices for the
requester, recipients on an access request. The staff page: the relationship, the evidence and
its audited reveal, the recorded check, the queue's mark, approval refused before the check.
A browser test walks a guardian through on a phone and the team through on the dashboard.
"""

import io
import re

import pytest
from browserfix import served
from sqlalchemy import select
from staffpages import PASSWORD, login, make_team

from exports.worker import run_pending as build_exports
from privacy_service.audit import AuditEntry
from privacy_service.demo import seed
from privacy_service.requests import behalf
from privacy_service.requests.models import DataRequest

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

PARENT = "parent@example.net"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def shop(app, rt, session):
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=5)


def signed_in_agent(app):
    """A test client signed in to the dashboard as an agent."""
    rt = app.extensions["privacy"]
    with app.app_context():
        make_team(rt.db.session)
    agent = app.test_client()
    assert login(agent, "agent@shop.example").status_code in (302, 303)
    return agent


def browser_sign_in(page, live, rt):
    """Sign a browser page in to the dashboard as the agent (the team made by the test)."""
    page.goto(live + "/staff/login")
    page.get_by_label("邮箱 Email").fill("agent@shop.example")
    page.get_by_label("密码 Password").fill(PASSWORD)
    page.get_by_role("button", name="登录 Sign in").click()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def code_to(smtp, rt, address):
    rt.notifier.wait()
    with smtp._cond:
        smtp._cond.wait_for(lambda: any(address in m["To"] for m in smtp.messages), timeout=10)
    for m in reversed(smtp.messages):
        if address in m["To"]:
            found = re.search(r"\b(\d{6})\b", m.get_payload(decode=True).decode())
            if found:
                return found.group(1)
    raise AssertionError("no code")


def submit_for_child(client, lang="zh-CN", **fields):
    client.get(f"/lang/{lang}")
    form = {
        "csrf": csrf_of(client.get("/").text),
        "type": "access",
        "for": "guardian",
        "contact": "demo@example.com",
        "requester_name": "王芳",
        "requester_contact": PARENT,
        **fields,
    }
    return client.post("/", data=form)


def requester_signed_in(client, smtp, rt):
    answer = submit_for_child(client)
    assert answer.status_code == 303, answer.text
    rid = answer.headers["Location"].split("/r/")[1].split("/")[0]
    page = client.get(f"/r/{rid}/verify").text
    assert "您本人的手机号或邮箱" in page
    done = client.post(
        f"/r/{rid}/verify", data={"csrf": csrf_of(page), "code": code_to(smtp, rt, PARENT)}
    )
    assert done.headers["Location"].endswith(f"/r/{rid}")
    return rid


def test_form_offers_the_path_for_someone_else_in_both_languages(app, client):
    zh = client.get("/").text
    assert "为我监护的未成年人" in zh and "为已故的近亲属" in zh and "作为受托代理人" in zh
    assert 'id="requester_contact"' in zh and 'data-who="guardian deceased_relative agent"' in zh
    client.get("/lang/en")
    en = client.get("/").text
    assert "For a child in my care" in en and "Your own mobile number or e-mail" in en


def test_errors_of_the_path_land_on_their_inputs(shop, app, client, rt):
    missing = submit_for_child(client, requester_contact="")
    assert missing.status_code == 422
    assert 'id="requester_contact-error"' in missing.text
    closing = submit_for_child(client, lang="en", type="account_closure", **{"for": "agent"})
    assert closing.status_code == 422
    assert "This relationship cannot make this kind of request" in closing.text
    assert 'href="#who"' in closing.text
    with app.app_context():
        assert rt.db.session.scalars(select(DataRequest)).all() == []


def test_requester_uploads_evidence_sees_recipients_and_has_no_choices(shop, app, client, smtp, rt):
    rid = requester_signed_in(client, smtp, rt)
    page = client.get(f"/r/{rid}").text
    assert "为我监护的未成年人" in page and "等待隐私团队核实" in page
    assert 'id="upload-form"' in page and 'id="recipients"' in page
    assert "境外" in page and "第三十九条" in page
    assert 'id="download"' not in page
    bad = client.post(
        f"/r/{rid}/evidence",
        data={"csrf": csrf_of(page), "kind": "guardianship", "file": (io.BytesIO(b"x"), "a.txt")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and 'id="upload-error"' in bad.text
    # A file larger than the other forms may be (64 KB) but within the upload limit.
    big = PDF + b"0" * 200_000
    ok = client.post(
        f"/r/{rid}/evidence",
        data={"csrf": csrf_of(page), "kind": "guardianship", "file": (io.BytesIO(big), "g.pdf")},
        content_type="multipart/form-data",
    )
    assert ok.status_code == 303
    after = client.get(f"/r/{rid}").text
    assert "材料已上传" in after and "监护关系证明" in after
    mine = client.get("/mine").text
    assert rid in mine
    assert client.get("/choices").status_code == 403
    with app.app_context():
        (doc,) = behalf.evidence_of(rt.db.session, rid)
        assert doc.size == len(big)


def test_staff_page_shows_relationship_evidence_and_check_and_the_queue_marks_it(
    shop, app, client, smtp, rt
):
    rid = requester_signed_in(client, smtp, rt)
    page = client.get(f"/r/{rid}").text
    client.post(
        f"/r/{rid}/evidence",
        data={
            "csrf": csrf_of(page),
            "kind": "birth_certificate",
            "file": (io.BytesIO(PDF), "b.pdf"),
        },
        content_type="multipart/form-data",
    )
    agent = signed_in_agent(app)
    queue = agent.get("/staff/requests").text
    assert 'class="tag behalf"' in queue
    detail = agent.get(f"/staff/requests/{rid}").text
    assert "未成年人的父母或监护人" in detail and "Parent or guardian of a minor" in detail
    assert "王芳" not in detail and PARENT not in detail  # masked until revealed
    assert "出生医学证明" in detail
    assert "接收方" in detail and "Marketplace sellers" in detail
    token = csrf_of(detail)
    early = agent.post(f"/staff/requests/{rid}/approve", data={"csrf": token})
    assert early.status_code == 409
    revealed = agent.post(f"/staff/requests/{rid}/requester/reveal", data={"csrf": token})
    assert "王芳" in revealed.text and PARENT in revealed.text
    with app.app_context():
        (doc,) = behalf.evidence_of(rt.db.session, rid)
    file = agent.get(f"/staff/requests/{rid}/evidence/{doc.id}")
    assert file.status_code == 200 and file.data == PDF
    assert file.headers["Content-Type"] == "application/pdf"
    assert "attachment" in file.headers["Content-Disposition"]
    incomplete = agent.post(
        f"/staff/requests/{rid}/requester/check",
        data={"csrf": token, "outcome": "accepted", "method": "documents_reviewed", "note": ""},
    )
    assert incomplete.status_code == 422
    checked = agent.post(
        f"/staff/requests/{rid}/requester/check",
        data={
            "csrf": token,
            "outcome": "accepted",
            "method": "documents_reviewed",
            "note": "出生证明上的父母姓名与申请人一致",
        },
    )
    assert checked.status_code == 303
    approved = agent.post(f"/staff/requests/{rid}/approve", data={"csrf": token})
    assert approved.status_code == 303
    assert build_exports(rt.export_deps()) == 1
    assert 'id="download"' in client.get(f"/r/{rid}").text
    with app.app_context():
        actions = rt.db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.request_id == rid)
        ).all()
    assert "request.requester_revealed" in actions
    assert "request.evidence_viewed" in actions
    assert "request.evidence_checked" in actions


def test_holders_own_request_page_shows_recipients(shop, app, client, smtp, rt, code_from):
    page = client.get("/").text
    answer = client.post(
        "/",
        data={"csrf": csrf_of(page), "type": "access", "contact": "demo@example.com"},
    )
    rid = answer.headers["Location"].split("/r/")[1].split("/")[0]
    verify = client.get(f"/r/{rid}/verify").text
    client.post(f"/r/{rid}/verify", data={"csrf": csrf_of(verify), "code": code_from(rid=rid)})
    status = client.get(f"/r/{rid}").text
    assert 'id="recipients"' in status and 'id="on-behalf"' not in status


@pytest.fixture
def live(app, rt, session):
    seed(session, rt.sources["shop"], customers=2, browsing_per_customer=5)
    with served(app) as url:
        yield url


def test_a_guardian_request_reviewed_and_carried_out_in_the_browser(live, page, smtp, rt, tmp_path):
    page.goto(live + "/")
    assert page.locator("#requester").is_hidden(), "only for someone else"
    page.get_by_label("为我监护的未成年人").check()
    assert page.locator("#requester").is_visible()
    page.locator("#contact").fill("demo@example.com")
    page.locator("#requester_name").fill("王芳")
    page.locator("#requester_contact").fill(PARENT)
    page.screenshot(path=str(page.shots / "portal-behalf-1-form.png"), full_page=True)
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/r/.+/verify"))
    rid = page.url.split("/r/")[1].split("/")[0]
    page.locator("#code").fill(code_to(smtp, rt, PARENT))
    page.get_by_role("button", name="验证", exact=True).click()
    page.wait_for_url(re.compile(r"/r/[^/]+$"))
    assert page.locator("#evidence-status").inner_text() == "等待隐私团队核实"
    proof = tmp_path / "出生证明.pdf"
    proof.write_bytes(PDF)
    page.locator("#evidence-kind").select_option("birth_certificate")
    page.locator("#evidence-file").set_input_files(str(proof))
    page.get_by_role("button", name="上传", exact=True).click()
    page.wait_for_url(re.compile(r"/r/[^/]+$"))
    assert "出生医学证明" in page.locator("#evidence").inner_text()
    page.screenshot(path=str(page.shots / "portal-behalf-2-evidence.png"), full_page=True)

    # The team: the relationship, the document, a recorded check, then approval.
    team_session = rt.db.new_session()
    make_team(team_session)
    team_session.close()
    staff = page.context.browser.new_page(viewport={"width": 1440, "height": 900})
    browser_sign_in(staff, live, rt)
    staff.goto(f"{live}/staff/requests/{rid}")
    assert "未成年人的父母或监护人" in staff.locator("#requester").inner_text()
    staff.locator("#check-outcome").select_option("accepted")
    staff.locator("#check-method").select_option("documents_reviewed")
    staff.locator("#check-note").fill("出生证明上的父母姓名与申请人一致")
    staff.get_by_role("button", name=re.compile("记录核实")).click()
    staff.screenshot(path=str(page.shots / "dashboard-behalf-request.png"), full_page=True)
    staff.get_by_role("link", name=re.compile("批准")).click()
    staff.get_by_role("button", name=re.compile("确认")).click()
    staff.wait_for_load_state()
    staff.close()

    assert build_exports(rt.export_deps()) == 1
    page.reload()
    assert page.locator("#download").is_visible()
    page.screenshot(path=str(page.shots / "portal-behalf-3-ready.png"), full_page=True)


def test_an_agent_logs_a_guardians_phone_call_and_the_code_goes_to_the_guardian(
    shop, app, smtp, rt
):
    from privacy_service.db import utcnow
    from privacy_service.web.dashboard.common import SHANGHAI

    agent = signed_in_agent(app)
    page = agent.get("/staff/requests/new").text
    assert 'id="n-relationship"' in page
    form = {
        "csrf": csrf_of(page),
        "channel": "phone",
        "received": utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
        "type": "account_closure",
        "contact_kind": "email",
        "contact": "demo@example.com",
        "relationship": "deceased_relative",
        "requester_name": "王芳",
        "requester_contact_kind": "email",
        "requester_contact": PARENT,
        "asked": "家属来电要求注销已故用户的账户",
        "method": "code",
    }
    refused = agent.post("/staff/requests/new", data=form)
    assert (
        refused.status_code == 422 and "This relationship cannot make this request" in refused.text
    )
    answer = agent.post("/staff/requests/new", data={**form, "type": "deletion"})
    assert answer.status_code == 303, answer.text[-600:]
    rid = answer.headers["Location"].rstrip("/").split("/")[-1]
    assert code_to(smtp, rt, PARENT)
    with app.app_context():
        r = rt.db.session.get(DataRequest, rid)
        assert r.on_behalf == "deceased_relative" and r.channel == "phone"
    detail = agent.get(f"/staff/requests/{rid}").text
    assert "已故用户的近亲属" in detail and "Codes go to the requester" in detail
