"""Which notice each change of a request's status sends, and with what (no personal data).

Called by ``lifecycle.transition`` (the only place a status changes) in the same transaction.
A correction's notice is queued by the approval itself, which knows what changed.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from privacy_service import i18n
from privacy_service.crypto.normalize import mask
from privacy_service.notices import queue

SHANGHAI = ZoneInfo("Asia/Shanghai")


def type_label_in(kind: str, language: str) -> str:
    """A request type as a notice names it ("您的“删除我的数据”请求"), in ``language``.

    The words come from the gettext catalogs (``privacy_service/translations``) in the context
    "notice": the English reads inside a sentence ("your "copy of my data" request").
    """
    pgettext = i18n.translations(language).pgettext
    labels = {
        "access": pgettext("notice", "获取我的数据副本"),
        "correction": pgettext("notice", "更正我的信息"),
        "deletion": pgettext("notice", "删除我的数据"),
        "account_closure": pgettext("notice", "注销我的账户"),
    }
    return labels.get(kind, kind)


def type_label(request) -> str:
    """The request's type as the customer reads it, in the request's language."""
    return type_label_in(request.type, _lang(request))


def beijing(moment: dt.datetime) -> str:
    """A time as Beijing wall-clock time, to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def status_path(request) -> str:
    """The customer page of the request (made a full link on delivery)."""
    return f"/r/{request.id}"


def masked(kind: str, value) -> str:
    """A value the customer typed, partly hidden: enough to recognise, not to read."""
    if isinstance(value, bool):
        return "是 / yes" if value else "否 / no"
    text = str(value)
    if kind in ("email", "phone"):
        return mask(kind, text)
    if len(text) <= 1:
        return "*"
    return text[0] + "*" * min(len(text) - 1, 6) + (text[-1] if len(text) > 3 else "")


def lang_of(request) -> str:
    """The request's language for notices and labels (zh-CN unless English)."""
    return request.language if request.language in ("zh-CN", "en") else "zh-CN"


_lang = lang_of


def on_transition(session: Session, request, current: str, target: str, *, actor: str) -> None:
    """Queue the notice that telling the customer about ``current`` -> ``target`` needs."""
    lang = _lang(request)
    if target == "verified" and current == "pending_verification":
        queue(
            session,
            request,
            "verified",
            type_label=type_label(request),
            due_date=request.due_date.isoformat(),
        )
    elif target == "cooling_off":
        queue(
            session,
            request,
            "cooling_off_started",
            ends=beijing(request.cooling_off_until) if request.cooling_off_until else "",
            cancel_url=status_path(request),
        )
    elif target == "rejected" and current != "pending_verification":
        reasons = request.reasons or []
        if request.type == "account_closure" and actor == "system":
            blockers = [
                {
                    "reason": r.get(lang, ""),
                    "remedy": (r.get("remedy") or {}).get(lang, ""),
                    "count": r.get("count") or 0,
                }
                for r in reasons
            ]
            queue(session, request, "closure_refused", blockers=blockers)
        else:
            queue(
                session,
                request,
                "refused",
                type_label=type_label(request),
                reasons=[r.get(lang, "") for r in reasons],
            )
    elif target == "completed" and request.type == "deletion":
        queue(session, request, "deletion_done", receipt_url=status_path(request))
    elif target == "completed" and request.type == "account_closure":
        queue(session, request, "closure_done")
