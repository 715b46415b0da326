"""The customer page's texts: Chinese first, English second."""

from __future__ import annotations

from privacy_service.web.portal.texts import ACCOUNT_TEXT, BEHALF_TEXT, TABLES

LANGUAGES = ("zh-CN", "en")

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "请求我的数据", "en": "Request my data"},
    "intro": {
        "zh-CN": "查看、复制、更正或删除您的个人信息，或注销账户。我们会在 15 个工作日内答复。",
        "en": "See, copy, correct or delete your personal data, or close your account. We answer within 15 working days.",
    },
    "switch": {"zh-CN": "English", "en": "中文"},
    "type": {"zh-CN": "您想做什么？", "en": "What would you like to do?"},
    "access": {"zh-CN": "获取我的数据副本", "en": "Get a copy of my data"},
    "access_help": {
        "zh-CN": "我们会生成一个包含您个人信息的压缩包，可下载 5 次，7 天内有效。",
        "en": "We build a ZIP of your personal data; download it up to 5 times within 7 days.",
    },
    "correction": {"zh-CN": "更正我的信息", "en": "Correct my data"},
    "correction_help": {
        "zh-CN": "告诉我们哪一项不正确以及正确的内容，隐私团队审核后更新。",
        "en": "Tell us what is wrong and the right value; the privacy team reviews and updates it.",
    },
    "deletion": {"zh-CN": "删除我的数据", "en": "Delete my data"},
    "deletion_help": {
        "zh-CN": "法律要求保存的交易记录（完成后三年）会被限制使用并保留，我们会说明原因和期限。",
        "en": "Transaction records the law requires us to keep (three years after completion) are kept, restricted; we tell you why and until when.",
    },
    "account_closure": {"zh-CN": "注销我的账户", "en": "Close my account"},
    "account_closure_help": {
        "zh-CN": "注销前有 7 天冷静期，期间可以撤销；冷静期结束后注销不可恢复。有未发货订单、处理中的退款或余额时无法注销。",
        "en": "There is a 7-day cooling-off period in which you can cancel; after it, closure is final. Not possible while orders are unshipped, refunds open or a balance remains.",
    },
    "contact": {"zh-CN": "账户的手机号或电子邮箱", "en": "Your account's mobile number or email"},
    "contact_help": {"zh-CN": "我们会向它发送验证码。", "en": "We send a code to it."},
    "categories": {
        "zh-CN": "哪些类别？（不选表示全部）",
        "en": "Which categories? (none means all)",
    },
    "correct_what": {"zh-CN": "要更正的内容", "en": "What to correct"},
    "field": {"zh-CN": "项目", "en": "Field"},
    "value": {"zh-CN": "正确的内容", "en": "Correct value"},
    "record_id": {
        "zh-CN": "记录编号（地址等，见数据副本）",
        "en": "Record ID (addresses etc., see your export)",
    },
    "note": {"zh-CN": "补充说明（可选）", "en": "Anything else (optional)"},
    "submit": {"zh-CN": "提交", "en": "Submit"},
    "fix_errors": {"zh-CN": "请检查标出的项目。", "en": "Please check the marked fields."},
    "verify_title": {"zh-CN": "输入验证码", "en": "Enter your code"},
    "verify_intro": {
        "zh-CN": "如果该手机号或邮箱属于一个账户，我们已向它发送了 6 位验证码，10 分钟内有效。",
        "en": "If this number or email belongs to an account, we have sent it a 6-digit code, valid for 10 minutes.",
    },
    "code": {"zh-CN": "验证码", "en": "Code"},
    "verify": {"zh-CN": "验证", "en": "Verify"},
    "resend": {"zh-CN": "重新发送验证码", "en": "Send a new code"},
    "resend_wait": {"zh-CN": "秒后可重新发送", "en": "seconds until you can ask again"},
    "resent": {
        "zh-CN": "如果该联系方式属于一个账户，新的验证码已发送。",
        "en": "If the contact belongs to an account, a new code is on its way.",
    },
    "wrong_code": {
        "zh-CN": "验证码不正确，还可尝试次数：",
        "en": "That code is not right. Attempts left:",
    },
    "expired_code": {
        "zh-CN": "验证码已过期，请重新发送。",
        "en": "The code has expired; ask for a new one.",
    },
    "void_code": {
        "zh-CN": "错误次数过多，请重新发送验证码。",
        "en": "Too many wrong codes; ask for a new one.",
    },
    "limit": {
        "zh-CN": "操作过于频繁，请稍后再试。",
        "en": "Too many attempts; please try again later.",
    },
    "status_title": {"zh-CN": "请求进度", "en": "Your request"},
    "status": {"zh-CN": "状态", "en": "Status"},
    "received": {"zh-CN": "提交时间", "en": "Received"},
    "due": {"zh-CN": "答复期限", "en": "We answer by"},
    "working_days_left": {"zh-CN": "剩余工作日", "en": "working days left"},
    "provisional": {
        "zh-CN": "（预计，节假日安排公布后确定）",
        "en": "(provisional until the holiday calendar is published)",
    },
    "next": {"zh-CN": "接下来", "en": "What happens next"},
    "reasons": {"zh-CN": "原因", "en": "Reasons"},
    "todo": {"zh-CN": "您可以：", "en": "What you can do:"},
    "download": {"zh-CN": "下载我的数据", "en": "Download my data"},
    "expires": {"zh-CN": "链接有效期至", "en": "Available until"},
    "downloads_left": {"zh-CN": "剩余下载次数", "en": "Downloads left"},
    "cancel": {"zh-CN": "撤销请求", "en": "Cancel the request"},
    "cooling_off_until": {"zh-CN": "冷静期至", "en": "Cooling-off until"},
    "receipt": {"zh-CN": "处理结果", "en": "What we did"},
    "deleted": {"zh-CN": "已删除", "en": "deleted"},
    "anonymised": {"zh-CN": "已匿名化", "en": "anonymised"},
    "kept": {"zh-CN": "依法保留", "en": "kept by law"},
    "until": {"zh-CN": "保留至", "en": "until"},
    "not_yours": {
        "zh-CN": "请在提交请求的浏览器中打开此页面，或重新提交请求。",
        "en": "Open this page in the browser you used to submit, or submit a new request.",
    },
    "new_request": {"zh-CN": "提交新的请求", "en": "Submit a new request"},
    "refresh": {"zh-CN": "刷新", "en": "Refresh"},
    "st_pending_verification": {"zh-CN": "等待验证", "en": "Waiting for verification"},
    "st_verified": {"zh-CN": "已验证", "en": "Verified"},
    "st_awaiting_review": {"zh-CN": "隐私团队审核中", "en": "Being reviewed by the privacy team"},
    "st_in_progress": {"zh-CN": "处理中", "en": "In progress"},
    "st_cooling_off": {"zh-CN": "冷静期", "en": "Cooling-off"},
    "st_completed": {"zh-CN": "已完成", "en": "Completed"},
    "st_rejected": {"zh-CN": "未能办理", "en": "Not carried out"},
    "st_cancelled": {"zh-CN": "已撤销", "en": "Cancelled"},
    "nx_verified": {"zh-CN": "我们正在处理您的请求。", "en": "We are working on your request."},
    "nx_awaiting_review": {
        "zh-CN": "隐私团队会审核您的请求，结果会显示在这里。",
        "en": "The privacy team reviews your request; the outcome shows here.",
    },
    "nx_in_progress": {
        "zh-CN": "正在处理，通常几分钟内完成。",
        "en": "Being carried out; usually done within minutes.",
    },
    "nx_cooling_off": {
        "zh-CN": "冷静期结束后注销将执行且不可恢复；在此之前您可以撤销。",
        "en": "When the cooling-off ends the closure is carried out and is final; until then you can cancel.",
    },
    "nx_completed": {"zh-CN": "您的请求已完成。", "en": "Your request is complete."},
    "nx_rejected": {"zh-CN": "请查看下面的原因。", "en": "See the reasons below."},
    "bad_contact": {
        "zh-CN": "请输入有效的中国大陆手机号或电子邮箱。",
        "en": "Enter a valid mainland mobile number or email address.",
    },
    "bad_correction": {
        "zh-CN": "请选择要更正的项目并填写正确的内容。",
        "en": "Choose what to correct and give the right value.",
    },
    "required": {"zh-CN": "请填写此项。", "en": "This is required."},
    "nx_cancelled": {
        "zh-CN": "请求已撤销，未做任何更改。",
        "en": "The request was cancelled; nothing was changed.",
    },
}

# Progress of an export's build (the status page updates itself while it runs).
TEXT |= {
    "pg_title": {"zh-CN": "进度", "en": "Progress"},
    "pg_queued": {"zh-CN": "排队中，马上开始", "en": "Queued, starting shortly"},
    "pg_building": {
        "zh-CN": "正在生成：已完成 {done}/{total} 个类别",
        "en": "Building: {done} of {total} categories done",
    },
    "pg_ready": {"zh-CN": "已生成，可以下载", "en": "Ready to download"},
    "pg_failed": {
        "zh-CN": "生成失败，隐私团队会处理",
        "en": "Failed; the privacy team will follow up",
    },
    "pg_expired": {"zh-CN": "下载已过期", "en": "The download has expired"},
}


def progress_text(progress: dict, lang: str) -> str:
    """An export's progress in words ("Building: 3 of 11 categories done")."""
    text = t("pg_" + progress["state"], lang)
    total = progress.get("categories_total")
    return text.replace("{done}", str(progress.get("categories_done") or 0)).replace(
        "{total}", str(total) if total else "?"
    )


TEXT.update(ACCOUNT_TEXT)
TEXT.update(BEHALF_TEXT)


def t(key: str, lang: str) -> str:
    """The text ``key`` in ``lang`` (Chinese when missing)."""
    entry = TEXT.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["zh-CN"]


def table_label(name: str, lang: str) -> str:
    """A shop table's name as the customer reads it (its name when none is configured)."""
    entry = TABLES.get(name)
    return (entry.get(lang) or entry["zh-CN"]) if entry else name
