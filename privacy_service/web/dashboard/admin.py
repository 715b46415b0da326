"""Administration for admins (auditors read): staff accounts, policy files, scheduled jobs.

Key versions are in ``admin_keys``. Every change is audited with the admin as the actor.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

from flask import abort, flash, g, redirect, request, url_for

from privacy_service import audit
from privacy_service.db import utcnow
from privacy_service.jobs import JOBS, run_job
from privacy_service.policies import load_policies
from privacy_service.team import accounts, sessions
from privacy_service.team.accounts import ROLES, StaffUser, create
from privacy_service.team.models import ReplyTemplate
from privacy_service.web.context import get_or_404, runtime
from privacy_service.web.dashboard import jobinfo, page_queries
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import actor, bp, render
from privacy_service.web.dashboard.request_page import refusal_templates

INVITE_PASSWORD_BYTES = 15  # 20 characters of URL-safe base64


@bp.get("/admin/staff")
@roles("admin", "auditor")
def admin_staff():
    """The team's accounts."""
    s = runtime().db.session
    members = page_queries.staff_members(s)
    return render("dashboard/admin_staff.html", members=members, roles_=ROLES, now_utc=utcnow())


def _member(staff_id: str) -> StaffUser:
    return get_or_404(StaffUser, staff_id)


def _changed(s, member: StaffUser, what: str, **details) -> None:
    audit.record(
        s,
        "staff.changed",
        actor=actor(),
        details={"staff_id": member.id, "change": what, **details},
    )


@bp.post("/admin/staff")
@roles("admin")
def invite_staff():
    """Invite a member: an account with a one-time password shown once, to hand over in person.

    The password and the authenticator enrolment are shown on this answer only (never stored in
    clear, never e-mailed: mail is not a safe channel for a credential).
    """
    s = runtime().db.session
    email = request.form.get("email", "").strip().lower()[:254]
    role = request.form.get("role", "")
    if "@" not in email or role not in ROLES:
        return render(
            "dashboard/message.html",
            422,
            message="请填写邮箱并选择角色。 Give an e-mail and a role.",
        )
    if page_queries.email_taken(s, email):
        return render(
            "dashboard/message.html",
            409,
            message="此邮箱已有账户。 That e-mail already has an account.",
        )
    password = secrets.token_urlsafe(INVITE_PASSWORD_BYTES)
    member = create(s, email=email, role=role, password=password, totp=True, actor=actor())
    uri = accounts.enrolment_uri(member)
    s.commit()
    return render("dashboard/admin_secret.html", member=member, password=password, uri=uri)


@bp.post("/admin/staff/<uuid:staff_id>")
@roles("admin")
def change_staff(staff_id: str):
    """Change a role, disable / enable, reset the second factor, or sign the member out."""
    s = runtime().db.session
    member = _member(staff_id)
    what = request.form.get("change", "")
    if member.id == g.staff.id and what in ("role", "disable"):
        return render(
            "dashboard/message.html",
            409,
            message="不能更改自己的角色或停用自己。 "
            "You cannot change your own role or disable yourself.",
        )
    uri = None
    if what == "role" and request.form.get("role") in ROLES:
        _changed(s, member, "role", role=request.form["role"])
        member.role = request.form["role"]
        sessions.end_all(s, member.id)  # a new role starts with a new sign-in
    elif what == "disable":
        accounts.disable(s, member, actor=actor())
    elif what == "enable":
        accounts.enable(s, member, actor=actor())
    elif what == "reset_2fa":
        uri = accounts.reset_second_factor(s, member, actor=actor())
    elif what == "sign_out":
        accounts.sign_out(s, member, actor=actor())
    else:
        abort(400)
    s.commit()
    if uri:
        return render("dashboard/admin_secret.html", member=member, password=None, uri=uri)
    flash(f"已更新 Updated: {member.email}")
    return redirect(url_for("dashboard.admin_staff"), code=303)


# --- policy files -------------------------------------------------------------------------------


@bp.get("/admin/policies")
@roles("admin", "auditor")
def admin_policies():
    """The policy files, read-only, and whether they validate together as the service loads them."""
    rt = runtime()
    folder = Path(rt.settings.policies_dir)
    try:
        load_policies(folder)
        state, problem = True, None
    except Exception as exc:
        state, problem = False, str(exc)[:2000]
    files = []
    for path in sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".yaml", ".yml", ".md", ".json")
    ):
        text = path.read_text(encoding="utf-8", errors="replace")
        files.append(
            (
                str(path.relative_to(folder)),
                hashlib.sha256(text.encode()).hexdigest()[:16],
                path.stat().st_mtime,
                text,
            )
        )
    return render("dashboard/admin_policies.html", files=files, valid=state, problem=problem)


# --- scheduled jobs ------------------------------------------------------------------------------


@bp.get("/admin/jobs")
@roles("admin", "auditor")
def admin_jobs():
    """Every scheduled job: schedule, last start and finish, next run, last failure."""
    s = runtime().db.session
    leases = page_queries.job_leases(s)
    rows = []
    for spec in JOBS:
        lease = leases.get(spec.id)
        rows.append(
            {
                "id": spec.id,
                "name": jobinfo.name(spec),
                "schedule": jobinfo.schedule(spec),
                "last_started": lease.last_started_at if lease else None,
                "last_finished": lease.last_finished_at if lease else None,
                "next": jobinfo.next_run(spec, lease.last_started_at if lease else None),
                "failed_at": lease.last_failed_at if lease else None,
                "error": lease.last_error if lease else None,
            }
        )
    return render("dashboard/admin_jobs.html", jobs=rows)


@bp.post("/admin/jobs/<job_id>/run")
@roles("admin")
def admin_run_job(job_id: str):
    """Run one job now, under its lease like the scheduler."""
    rt = runtime()
    spec = next((s for s in JOBS if s.id == job_id), None)
    if spec is None:
        abort(404)
    audit.record(rt.db.session, "job.run_by_staff", actor=actor(), details={"job": spec.id})
    rt.db.session.commit()
    try:
        count = run_job(rt, spec)
    except Exception:
        flash(f"{jobinfo.name(spec)}: 失败 failed")
        return redirect(url_for("dashboard.admin_jobs"), code=303)
    flash(
        f"{jobinfo.name(spec)}: "
        + ("另一进程正在运行 held by another process" if count is None else f"完成 done ({count})")
    )
    return redirect(url_for("dashboard.admin_jobs"), code=303)


# --- reply templates ---------------------------------------------------------------------------

TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@bp.get("/admin/templates")
@roles("admin", "auditor")
def admin_templates():
    """The refusal templates agents choose from (built-in ones as edited, and added ones)."""
    return render("dashboard/admin_templates.html", templates=refusal_templates(), form={})


@bp.post("/admin/templates")
@roles("admin")
def save_template():
    """Edit or add a template (both languages required); audited without its text."""
    s = runtime().db.session
    key = request.form.get("key", "").strip()
    zh, en = request.form.get("zh", "").strip()[:2000], request.form.get("en", "").strip()[:2000]
    if not TEMPLATE_KEY.match(key) or not zh or not en:
        return render(
            "dashboard/admin_templates.html",
            422,
            templates=refusal_templates(),
            form={"key": key, "zh": zh, "en": en},
            error="请填写代码（小写字母、数字、下划线）和中英文内容。 "
            "Give a code (lower-case letters, digits, underscores) and the text in both languages.",
        )
    row = s.get(ReplyTemplate, key)
    if row is None:
        row = ReplyTemplate(key=key, zh=zh, en=en, updated_by=actor())
        s.add(row)
    row.zh, row.en, row.updated_by, row.updated_at = zh, en, actor(), utcnow()
    audit.record(s, "template.saved", actor=actor(), details={"template": key})
    s.commit()
    flash(f"模板已保存 Template saved: {key}")
    return redirect(url_for("dashboard.admin_templates"), code=303)


from privacy_service.web.dashboard import admin_keys  # noqa: E402, F401
