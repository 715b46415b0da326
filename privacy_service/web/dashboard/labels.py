"""Readable names for codes the pages show: statuses, types, audit actions, actors, details.

Every label is Chinese first, then English, as on the rest of the dashboard. A code with no
label is shown as itself rather than hidden (a new action still appears in the timeline).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from privacy_service.requests.behalf import CHECK_METHODS, EVIDENCE_KINDS, RELATIONSHIPS

STATUSES = {
    "pending_verification": ("待验证身份", "Awaiting identity check"),
    "verified": ("已验证", "Verified"),
    "awaiting_review": ("待审核", "Awaiting review"),
    "in_progress": ("处理中", "In progress"),
    "cooling_off": ("冷静期", "Cooling-off period"),
    "completed": ("已完成", "Completed"),
    "rejected": ("已拒绝", "Refused"),
    "cancelled": ("已取消", "Cancelled"),
}
TYPES = {
    "access": ("查阅复制", "Access / copy"),
    "correction": ("更正", "Correction"),
    "deletion": ("删除", "Deletion"),
    "account_closure": ("注销账户", "Account closure"),
}
ROLES = {"agent": ("专员", "Agent"), "admin": ("管理员", "Admin"), "auditor": ("审计员", "Auditor")}
CHANNELS = {
    "web": ("网页", "Web"),
    "email": ("邮件", "E-mail"),
    "phone": ("电话", "Phone"),
    "letter": ("信件", "Letter"),
}
METHODS = {
    "code": ("验证码", "one-time code"),
    "callback": ("回拨账户电话", "call back on the account's phone"),
    "id_document": ("核对证件", "ID document checked"),
    "in_person": ("当面核实", "in person"),
}
ACTIONS = {
    "request.verified_by_staff": ("员工核实身份", "Identity checked by staff"),
    "request.received": ("收到请求", "Request received"),
    "request.status_changed": ("状态变更", "Status changed"),
    "request.verification_attempt": ("验证尝试", "Verification attempt"),
    "request.code_resent": ("重发验证码", "Code sent again"),
    "request.deadline_recomputed": ("期限重算", "Deadline recomputed"),
    "request.assigned": ("分配", "Assigned"),
    "request.deadline_extended": ("延长期限", "Deadline extended"),
    "request.note_added": ("内部备注", "Internal note"),
    "request.information_requested": ("向客户询问", "Asked the customer"),
    "request.information_received": ("客户已答复", "Customer answered"),
    "request.correction_revealed": ("查看更正前的值", "Current value revealed"),
    "request.records_viewed": ("查看找到的数据", "Records viewed"),
    "correction.applied": ("更正已写入", "Correction written"),
    "source.step_failed": ("来源系统步骤失败", "Source step failed"),
    "source.not_applicable": ("来源系统不适用", "Source marked not applicable"),
    "source.retry_requested": ("立即重试来源系统", "Source retry requested"),
    "erasure.step_done": ("删除步骤完成", "Erasure step done"),
    "export.built": ("副本已生成", "Export built"),
    "export.downloaded": ("副本已下载", "Export downloaded"),
    "export.failed": ("副本生成失败", "Export failed"),
    "export.expired": ("副本已过期", "Export expired"),
    "export.retried": ("副本重试", "Export retried"),
    "legal_hold.placed": ("设置法律保全", "Legal hold placed"),
    "legal_hold.changed": ("修改法律保全", "Legal hold changed"),
    "legal_hold.released": ("解除法律保全", "Legal hold released"),
    "identity_document.stored": ("存入证件", "ID document stored"),
    "identity_document.read": ("读取证件", "ID document read"),
    "identity_document.deleted": ("删除证件", "ID document deleted"),
    "subject.registered": ("客户登记", "Customer registered"),
    "subject.crypto_shredded": ("密钥销毁", "Customer's key destroyed"),
    "retention.purged": ("按期删除", "Retention purge"),
    "notices.purged": ("清理已发送通知", "Sent notices purged"),
    "keys.activated": ("启用密钥版本", "Key version activated"),
    "keys.rewrapped": ("重新封装数据密钥", "Data keys re-wrapped"),
    "keys.retired": ("停用密钥版本", "Key version retired"),
    "staff.created": ("创建员工账户", "Staff account created"),
    "staff.login": ("员工登录", "Staff sign-in"),
    "staff.login_failed": ("登录失败", "Failed sign-in"),
    "staff.changed": ("员工账户变更", "Staff account changed"),
    "audit.verified": ("审计链校验", "Audit chain verified"),
    "audit.exported": ("导出审计日志", "Audit log exported"),
    "report.exported": ("导出报告", "Report exported"),
    "template.saved": ("保存回复模板", "Reply template saved"),
    "job.run_by_staff": ("手动运行任务", "Job run by hand"),
    "demo.seeded": ("演示数据", "Demo data seeded"),
    "request.identity_matched": ("找到账户", "Account found"),
    "request.holder_told": ("已通知账户持有人", "Account holder told"),
    "request.evidence_added": ("收到证明材料", "Evidence received"),
    "request.evidence_viewed": ("查看证明材料", "Evidence viewed"),
    "request.evidence_checked": ("核实证明材料", "Evidence checked"),
    "request.evidence_deleted": ("删除证明材料", "Evidence deleted"),
    "request.requester_revealed": ("显示申请人信息", "Requester shown"),
}
# Keys of audit details, and what they mean.
DETAIL_KEYS = {
    "from": ("从", "from"),
    "to": ("到", "to"),
    "decision": ("决定", "decision"),
    "reason_code": ("理由", "reason"),
    "type": ("类型", "type"),
    "channel": ("渠道", "channel"),
    "received_by": ("收到方式", "received by"),
    "received_at": ("收到时间", "received at"),
    "method": ("核实方式", "checked by"),
    "outcome": ("结果", "outcome"),
    "customers": ("客户", "customers"),
    "added": ("新增", "added"),
    "rows": ("行", "rows"),
    "previous": ("之前", "previous"),
    "rewrapped": ("已重新封装", "re-wrapped"),
    "remaining": ("剩余", "remaining"),
    "change": ("变更", "change"),
    "job": ("任务", "job"),
    "template": ("模板", "template"),
    "jurisdiction": ("法域", "jurisdiction"),
    "due_date": ("期限", "due"),
    "provisional": ("暂定", "provisional"),
    "category": ("类别", "category"),
    "until": ("截止", "until"),
    "reason": ("原因", "reason"),
    "count": ("数量", "count"),
    "role": ("角色", "role"),
    "version": ("版本", "version"),
    "on_behalf": ("代他人", "on behalf"),
    "relationship": ("关系", "relationship"),
    "kind": ("材料", "document"),
    "content_type": ("格式", "format"),
}
DECISIONS = {"approved": ("批准", "approved"), "refused": ("拒绝", "refused")}
OUTCOMES = {
    "accepted": ("已接受", "accepted"),
    "rejected": ("未接受", "rejected"),
    "correct": ("正确", "correct"),
    "wrong": ("错误", "wrong"),
    "expired": ("已过期", "expired"),
    "locked": ("已锁定", "locked"),
}
_ACTORS = {
    "system": ("系统", "System"),
    "customer": ("客户", "Customer"),
    "requester": ("代他人提出的申请人", "Requester (on behalf)"),
    "anonymous": ("未知用户", "Unknown user"),
    "cli": ("命令行", "Command line"),
}


def both(pair: tuple[str, str]) -> str:
    """``中文 English``."""
    return f"{pair[0]} {pair[1]}"


def status(code: str | None) -> str:
    """A status's label."""
    return both(STATUSES[code]) if code in STATUSES else str(code or "—")


def relationship(code: str | None) -> str:
    """Who asked: the holder, or someone on their behalf (requests/behalf.py)."""
    if code in RELATIONSHIPS:
        text = RELATIONSHIPS[code]["label"]
        return f"{text['zh-CN']} {text['en']}"
    return "本人 The account holder" if not code else str(code)


def request_type(code: str | None) -> str:
    """A request type's label."""
    return both(TYPES[code]) if code in TYPES else str(code or "—")


def action(code: str) -> str:
    """An audit action's label."""
    return both(ACTIONS[code]) if code in ACTIONS else code


def role(code: str) -> str:
    """A staff role's label."""
    return both(ROLES[code]) if code in ROLES else code


def channel(code: str | None) -> str:
    """How a request arrived."""
    return both(CHANNELS[code]) if code in CHANNELS else str(code or "—")


def actor(code: str, names: dict[str, str]) -> str:
    """Who did it: a staff member's e-mail, never their id."""
    kind, _, rest = (code or "").partition(":")
    if kind == "staff":
        return names.get(rest, rest if "@" in rest else "（已删除的员工 former staff member）")
    if kind in _ACTORS:
        return both(_ACTORS[kind])
    if kind == "service":
        return f"服务 Service: {rest}"
    return code


def _value(key: str, value, names: dict[str, str]) -> str:
    if key in ("from", "to") and value in STATUSES:
        return status(value)
    if key in ("from", "to", "staff_id") and (value is None or value in names):
        return names[value] if value else "无人 nobody"
    if key == "type":
        return request_type(value)
    if key in ("channel", "received_by"):
        return channel(value)
    if key == "method" and value in METHODS:
        return both(METHODS[value])
    if key == "method" and value in CHECK_METHODS:
        return f"{CHECK_METHODS[value]['zh-CN']} {CHECK_METHODS[value]['en']}"
    if key in ("on_behalf", "relationship"):
        return relationship(value)
    if key == "kind" and value in EVIDENCE_KINDS:
        return f"{EVIDENCE_KINDS[value]['zh-CN']} {EVIDENCE_KINDS[value]['en']}"
    if key == "decision" and value in DECISIONS:
        return both(DECISIONS[value])
    if key == "role":
        return role(value)
    if key == "outcome" and value in OUTCOMES:
        return both(OUTCOMES[value])
    if key.endswith("_at") and isinstance(value, str):
        try:
            return local_time(dt.datetime.fromisoformat(value), ZoneInfo("Asia/Shanghai"))
        except ValueError:
            return value
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "—"
    return str(value)


def details(entry_details: dict | None, names: dict[str, str]) -> str:
    """An entry's details as one readable line (ids of holds and keys left out)."""
    parts = []
    for key, value in (entry_details or {}).items():
        if (key.endswith("_id") and key != "staff_id") or value in ("", []):
            continue
        label = both(DETAIL_KEYS[key]) if key in DETAIL_KEYS else key.replace("_", " ")
        if key == "staff_id":
            label = "员工 staff"
        parts.append(f"{label}: {_value(key, value, names)}")
    return "; ".join(parts)


def local_time(value: dt.datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time in the policy's time zone."""
    return value.astimezone(tz).strftime(fmt) if value else "—"


def short_id(request_id: str) -> str:
    """The id's first 13 characters (time-ordered; searchable in the queue)."""
    return request_id[:13]
