"""Key versions in the browser: status, rotation with progress, retirement (admins only act).

A rotation adds a key version (where the key ring lives allows it), activates it, and re-wraps
every data key in a background thread; the page shows how many keys are left and reloads itself
while it runs. Rotation is resumable (``crypto.rotation``): a crash leaves keys on the old
version, and rotating again picks them up.
"""

from __future__ import annotations

import threading

from flask import current_app, flash, redirect, request, url_for

from privacy_service import audit
from privacy_service.crypto.keyring import KeyMaterialError, add_version
from privacy_service.keys.rotation import pending_count, retire, rewrap
from privacy_service.web.context import runtime
from privacy_service.web.dashboard import page_queries
from privacy_service.web.dashboard.auth import roles
from privacy_service.web.dashboard.common import actor, bp, render

STATUS = {
    "active": "使用中 Active",
    "decrypt_only": "仅解密 Decrypt only",
    "retired": "已停用 Retired",
}


def _rotation_state() -> dict:
    return current_app.extensions.setdefault("privacy.rotation", {"running": False})


@bp.get("/admin/keys")
@roles("admin", "auditor")
def admin_keys():
    """Each key version: status, data keys it wraps, whether this process's key ring holds it."""
    rt = runtime()
    s = rt.db.session
    active = rt.vault.active_version(s)
    s.commit()
    counts = page_queries.data_keys_per_version(s)
    versions = [
        {
            "version": row.version,
            "status": STATUS.get(row.status, row.status),
            "code": row.status,
            "keys": counts.get(row.version, 0),
            "in_ring": row.version in rt.vault.keyring.keks,
            "fingerprint": row.fingerprint,
            "created": row.created_at,
            "activated": row.activated_at,
            "retired": row.retired_at,
        }
        for row in page_queries.key_versions(s)
    ]
    state = dict(_rotation_state())
    return render(
        "dashboard/admin_keys.html",
        versions=versions,
        active=active,
        shredded=counts.get(None, 0),
        rotation=state,
        refresh=state.get("running"),
    )


def _rewrap_in_background(app, rt, version: int, by: str) -> None:

    state = app.extensions["privacy.rotation"]

    def progress(n: int) -> None:
        state["done"] = state.get("done", 0) + n

    def work():
        try:
            result = rewrap(rt.db.new_session, rt.vault, version, batch=1000, progress=progress)
            session = rt.db.new_session()
            try:
                audit.record(
                    session,
                    "keys.rewrapped",
                    actor=by,
                    details={
                        "version": version,
                        "rewrapped": result.rewrapped,
                        "remaining": result.remaining,
                    },
                )
                session.commit()
            finally:
                session.close()
            state.update(remaining=result.remaining, error=None)
        except Exception as exc:
            state["error"] = type(exc).__name__
        finally:
            state["running"] = False

    threading.Thread(target=work, name="key-rotation", daemon=True).start()


@bp.route("/admin/keys/rotate", methods=["GET", "POST"])
@roles("admin")
def rotate_keys():
    """Confirm, then add and activate a new key version and re-wrap every data key."""
    if request.method == "GET":
        return render(
            "dashboard/confirm.html",
            title="轮换密钥 Rotate the keys",
            changes=[
                "生成新的密钥版本并启用；旧版本变为仅解密。 A new key version is created and "
                "activated; the current one becomes decrypt-only.",
                "所有数据密钥在后台重新封装，服务不中断。 Every data key is re-wrapped in the "
                "background; the service keeps running.",
            ],
            action=url_for("dashboard.rotate_keys"),
            cancel=url_for("dashboard.admin_keys"),
        )
    rt = runtime()
    s = rt.db.session
    state = _rotation_state()
    if state.get("running"):
        flash("轮换正在进行。 A rotation is already running.")
        return redirect(url_for("dashboard.admin_keys"), code=303)
    current = rt.vault.active_version(s)
    try:
        version = add_version(rt.settings, rt.vault.keyring)
        rt.vault.reload_keyring()
        rt.vault.activate(s, version)
        audit.record(
            s, "keys.activated", actor=actor(), details={"version": version, "previous": current}
        )
        s.commit()
    except KeyMaterialError as exc:
        s.rollback()
        return render("dashboard/message.html", 409, message=f"无法轮换 Cannot rotate: {exc}")
    total = pending_count(s, version)
    s.commit()
    state.clear()
    state.update(running=True, version=version, total=total, done=0, error=None)
    _rewrap_in_background(current_app._get_current_object(), rt, version, actor())
    return redirect(url_for("dashboard.admin_keys"), code=303)


@bp.route("/admin/keys/<int:version>/retire", methods=["GET", "POST"])
@roles("admin")
def retire_key(version: int):
    """Confirm, then retire a version no data key uses any more."""
    if request.method == "GET":
        return render(
            "dashboard/confirm.html",
            title=f"停用密钥版本 {version} Retire key version {version}",
            changes=[
                "此版本不再用于解密；之后可从密钥环中移除。 The version is no longer used; it can "
                "then be removed from the key ring."
            ],
            action=url_for("dashboard.retire_key", version=version),
            cancel=url_for("dashboard.admin_keys"),
            danger=True,
        )
    s = runtime().db.session
    try:
        retire(s, version, actor=actor())
        s.commit()
    except KeyMaterialError as exc:
        s.rollback()
        return render("dashboard/message.html", 409, message=f"无法停用 Cannot retire: {exc}")
    flash(f"已停用版本 {version} Version {version} retired")
    return redirect(url_for("dashboard.admin_keys"), code=303)
