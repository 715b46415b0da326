"""The scheduled jobs as the admin page shows them: schedule in words, last and next run."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from privacy_service.db import utcnow
from privacy_service.jobs import JobSpec, trigger_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
NAMES = {
    "deadlines.recompute_provisional": ("重算暂定期限", "Recompute provisional deadlines"),
    "requests.reject_unverified": ("关闭未验证请求", "Close unverified requests"),
    "idempotency.purge": ("清理幂等键", "Forget idempotency keys"),
    "notices.purge": ("清理已发送通知", "Purge sent notices"),
    "deadlines.remind": ("期限提醒", "Deadline reminders"),
    "retention.nightly": ("保存期限清理", "Retention pass"),
    "exports.expire": ("过期副本清理", "Expire exports"),
    "exports.warn_expiring": ("副本即将过期提醒", "Warn of expiring exports"),
    "runs.close_abandoned": ("关闭中断的运行", "Close abandoned runs"),
    "closures.end_cooling_off": ("结束冷静期", "End cooling-off periods"),
    "tasks.sweep": ("补回丢失的任务", "Re-enqueue missing tasks"),
    "audit.verify": ("审计链校验", "Verify the audit chain"),
    "reports.refresh": ("更新报告数字", "Refresh the reports' figures"),
    "reports.rebuild": ("重建报告数字", "Rebuild the reports' figures"),
}


def name(spec: JobSpec) -> str:
    """The job's readable name."""
    zh, en = NAMES.get(spec.id, (spec.id, ""))
    return f"{zh} {en}".strip()


def schedule(spec: JobSpec) -> str:
    """The trigger in words."""
    args = spec.trigger_args
    if spec.trigger == "cron":
        return f"每天 {args.get('hour', 0):02d}:{args.get('minute', 0):02d} daily (Asia/Shanghai)"
    unit, n = next(iter(args.items()))
    units = {"seconds": "秒 seconds", "minutes": "分钟 minutes", "hours": "小时 hours"}
    return f"每 {n} {units.get(unit, unit)} every {n} {unit}"


def next_run(spec: JobSpec, last_started: dt.datetime | None, now: dt.datetime | None = None):
    """When the scheduler fires the job next, as local text."""
    now = (now or utcnow()).astimezone(SHANGHAI)
    fire = trigger_for(spec, SHANGHAI).get_next_fire_time(None, now)
    return fire.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if fire else "—"
