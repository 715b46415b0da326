"""Words of the customer page chosen by a value (a status, a request type, a table's name).

Each is a lazy gettext text (Chinese msgid, translated when rendered in the page's language);
the templates look them up by the value, e.g. ``STATUS[r.status]``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

REQUEST_TYPES = {
    "access": _l("获取我的数据副本"),
    "correction": _l("更正我的信息"),
    "deletion": _l("删除我的数据"),
    "account_closure": _l("注销我的账户"),
}
TYPE_HELP = {
    "access": _l("我们会生成一个包含您个人信息的压缩包，可下载 5 次，7 天内有效。"),
    "correction": _l("告诉我们哪一项不正确以及正确的内容，隐私团队审核后更新。"),
    "deletion": _l(
        "法律要求保存的交易记录（完成后三年）会被限制使用并保留，我们会说明原因和期限。"
    ),
    "account_closure": _l(
        "注销前有 7 天冷静期，期间可以撤销；冷静期结束后注销不可恢复。"
        "有未发货订单、处理中的退款或余额时无法注销。"
    ),
}
STATUS = {
    "pending_verification": _l("等待验证"),
    "verified": _l("已验证"),
    "awaiting_review": _l("隐私团队审核中"),
    "in_progress": _l("处理中"),
    "cooling_off": _l("冷静期"),
    "completed": _l("已完成"),
    "rejected": _l("未能办理"),
    "cancelled": _l("已撤销"),
}
# "What happens next" on the status page (a pending request shows the code page's intro).
NEXT_STEP = {
    "pending_verification": _l(
        "如果该手机号或邮箱属于一个账户，我们已向它发送了 6 位验证码，10 分钟内有效。"
    ),
    "verified": _l("我们正在处理您的请求。"),
    "awaiting_review": _l("隐私团队会审核您的请求，结果会显示在这里。"),
    "in_progress": _l("正在处理，通常几分钟内完成。"),
    "cooling_off": _l("冷静期结束后注销将执行且不可恢复；在此之前您可以撤销。"),
    "completed": _l("您的请求已完成。"),
    "rejected": _l("请查看下面的原因。"),
    "cancelled": _l("请求已撤销，未做任何更改。"),
}
NEXT_STEP_BEHALF_REVIEW = _l("隐私团队会核实您的身份证明材料，核实后才会办理；结果会显示在这里。")
RELATIONSHIPS = {
    "self": _l("为我自己"),
    "guardian": _l("为我监护的未成年人"),
    "deceased_relative": _l("为已故的近亲属"),
    "agent": _l("作为受托代理人"),
}
RELATIONSHIP_HELP = {
    "guardian": _l(
        "您是未满 18 周岁账户持有人的父母或其他监护人（不满 14 周岁的儿童须由监护人代为行使权利）。"
    ),
    "deceased_relative": _l(
        "为了您自身的合法、正当利益，您可以查阅、复制、更正、删除已故近亲属的相关个人信息"
        "（《个人信息保护法》第四十九条）；注销账户不在此列。"
    ),
    "agent": _l("账户持有人已签署书面授权委托书，委托您办理（不含注销账户）。"),
}
EVIDENCE_STATUS = {
    "awaiting": _l("等待隐私团队核实"),
    "accepted": _l("已核实"),
    "rejected": _l("未通过核实"),
}
CHOICES = {
    "marketing_email": _l("接收营销邮件"),
    "marketing_sms": _l("接收营销短信"),
    "personalised_ads": _l("个性化广告（根据您的兴趣推荐）"),
}
# One-line notices after a redirect: the session keeps the key, the page shows the words in
# the language of the page that shows them.
FLASH = {
    "resent": _l("如果该联系方式属于一个账户，新的验证码已发送。"),
    "limit": _l("操作过于频繁，请稍后再试。"),
    "uploaded": _l("材料已上传。"),
    "choices_saved": _l("已保存，立即生效。"),
}
# An export's build, as the status page and its progress poll say it ("building" has numbers).
PROGRESS = {
    "queued": _l("排队中，马上开始"),
    "ready": _l("已生成，可以下载"),
    "failed": _l("生成失败，隐私团队会处理"),
    "expired": _l("下载已过期"),
}
# Shop tables as named in receipts ("which records are kept"); another table shows its name.
TABLES = {
    "orders": _l("订单"),
    "order_items": _l("订单商品"),
    "customs_declarations": _l("海关申报单"),
    "refunds": _l("退款记录"),
    "returns": _l("退货记录"),
    "gift_cards": _l("礼品卡余额"),
    "payment_methods": _l("支付方式"),
    "identity_documents": _l("身份证件"),
    "addresses": _l("收货地址"),
    "customers": _l("账户"),
    "correction_history": _l("更正历史"),
}
