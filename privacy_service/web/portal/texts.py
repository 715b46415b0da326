"""Texts of the customer page for signing in again, "my requests", choices and outcomes.

Kept apart from ``i18n.TEXT`` (which merges them in) so each journey's wording is easy to find.
"""

from __future__ import annotations

ACCOUNT_TEXT: dict[str, dict[str, str]] = {
    "signin_title": {"zh-CN": "重新登录", "en": "Sign in again"},
    "signin_intro": {
        "zh-CN": "输入我们刚发送到您提交请求时所用手机号或邮箱的 6 位验证码。",
        "en": "Enter the 6-digit code we sent to the phone or email you used for this request.",
    },
    "signin_needed": {
        "zh-CN": "为保护您的信息，查看此请求需要重新登录。"
        "我们会向您提交请求时所用的手机号或邮箱发送验证码。",
        "en": "To protect your data, sign in again to see this request. "
        "We send a code to the phone or email you used for it.",
    },
    "send_code": {"zh-CN": "发送验证码", "en": "Send me a code"},
    "mine_title": {"zh-CN": "我的请求", "en": "My requests"},
    "mine_intro": {
        "zh-CN": "使用同一手机号或邮箱提交的所有请求。",
        "en": "Every request made with your phone number or email.",
    },
    "mine_signin": {
        "zh-CN": "请先打开您的任意一个请求并用验证码登录，然后即可在这里看到全部请求。",
        "en": "Open any of your requests and sign in with a code first; "
        "then all of them show here.",
    },
    "mine_empty": {"zh-CN": "暂无请求。", "en": "No requests yet."},
    "sign_out": {"zh-CN": "退出", "en": "Sign out"},
    "signed_out": {"zh-CN": "您已退出。", "en": "You are signed out."},
    "overdue": {
        "zh-CN": "已超过答复期限，我们深表歉意，正在尽快处理。",
        "en": "We are late answering, and we apologise; we are dealing with it as a priority.",
    },
    "export_gone": {
        "zh-CN": "下载次数已用完或已过期。如需新的副本，请提交新的请求。",
        "en": "All downloads are used or the export has expired. "
        "Submit a new request for a fresh copy.",
    },
    "export_not_ready": {
        "zh-CN": "副本尚未生成，请稍后刷新。",
        "en": "The export is not ready yet; refresh in a little while.",
    },
    "back": {"zh-CN": "返回请求", "en": "Back to the request"},
    "form_expired": {
        "zh-CN": "页面已过期，请刷新后重试。",
        "en": "The form expired; reload the page and try again.",
    },
    "page_missing": {
        "zh-CN": "找不到此页面。请检查网址，或从首页重新开始。",
        "en": "There is no such page. Check the address, or start again from the home page.",
    },
    "page_missing_title": {"zh-CN": "找不到页面", "en": "Page not found"},
    "cancel_confirm_title": {"zh-CN": "确认撤销", "en": "Confirm cancelling"},
    "cancel_confirm": {
        "zh-CN": "撤销后，此请求将不再处理。确定要撤销吗？",
        "en": "Once cancelled, this request is not carried out. Cancel it?",
    },
    "cancel_confirm_account_closure": {
        "zh-CN": "撤销后，您的账户不会被注销，可以继续正常使用。确定要撤销注销吗？",
        "en": "Once cancelled, your account is not closed and stays as it is. Cancel the closure?",
    },
    "cancel_yes": {"zh-CN": "确定撤销", "en": "Yes, cancel it"},
    "cancel_no": {"zh-CN": "不撤销，返回", "en": "No, go back"},
    "not_cancellable": {
        "zh-CN": "此请求当前状态下已无法撤销。",
        "en": "This request can no longer be cancelled.",
    },
    "changed_title": {"zh-CN": "已更正的内容", "en": "What we changed"},
    "pick_record": {"zh-CN": "要更正哪一条记录", "en": "Which record to correct"},
    "record_not_needed": {
        "zh-CN": "不需要（账户信息）",
        "en": "Not needed (account details)",
    },
    "choices_title": {"zh-CN": "隐私选择", "en": "Privacy choices"},
    "choices_intro": {
        "zh-CN": "勾选表示同意。保存后立即生效，无需审核；您可以随时更改。",
        "en": "Ticked means you agree. Changes take effect at once, without review; "
        "change them whenever you like.",
    },
    "marketing_email": {"zh-CN": "接收营销邮件", "en": "Marketing e-mail"},
    "marketing_sms": {"zh-CN": "接收营销短信", "en": "Marketing text messages (SMS)"},
    "personalised_ads": {
        "zh-CN": "个性化广告（根据您的兴趣推荐）",
        "en": "Personalised ads (based on your interests)",
    },
    "not_stored": {"zh-CN": "（商城未保存此设置）", "en": "(the shop keeps no such setting)"},
    "choices_save": {"zh-CN": "保存", "en": "Save"},
    "choices_all_off": {"zh-CN": "全部关闭", "en": "Turn all off"},
    "choices_saved": {
        "zh-CN": "已保存，立即生效。",
        "en": "Saved; in effect now.",
    },
    "form_title": {"zh-CN": "提交请求", "en": "Make a request"},
    "form_errors_title": {"zh-CN": "请检查表单", "en": "Check the form"},
    "pick_type": {"zh-CN": "请选择您想做什么。", "en": "Choose what you would like to do."},
    "pick_field": {
        "zh-CN": "请选择要更正的项目。",
        "en": "Choose the field to correct.",
    },
    "bad_value": {
        "zh-CN": "这个内容不符合所选项目的格式（例如手机号为 11 位数字，邮政编码为 6 位数字）。",
        "en": "This value does not fit the chosen field "
        "(a mobile number has 11 digits, a postal code 6).",
    },
    "need_record": {
        "zh-CN": "请填写要更正的记录编号（见您的数据副本），只能是数字。",
        "en": "Give the number of the record to correct (see your export); digits only.",
    },
    "several_corrections": {
        "zh-CN": "一次最多可以更正 3 项，不需要的留空即可。",
        "en": "You can correct up to 3 things at once; leave the rest empty.",
    },
}

# Shop tables as named in receipts ("which records are kept").
TABLES: dict[str, dict[str, str]] = {
    "orders": {"zh-CN": "订单", "en": "Orders"},
    "order_items": {"zh-CN": "订单商品", "en": "Order items"},
    "customs_declarations": {"zh-CN": "海关申报单", "en": "Customs declarations"},
    "refunds": {"zh-CN": "退款记录", "en": "Refunds"},
    "returns": {"zh-CN": "退货记录", "en": "Returns"},
    "gift_cards": {"zh-CN": "礼品卡余额", "en": "Gift card balances"},
    "payment_methods": {"zh-CN": "支付方式", "en": "Payment methods"},
    "identity_documents": {"zh-CN": "身份证件", "en": "Identity documents"},
    "addresses": {"zh-CN": "收货地址", "en": "Addresses"},
    "customers": {"zh-CN": "账户", "en": "Account"},
    "correction_history": {"zh-CN": "更正历史", "en": "Corrections history"},
}

# Requests on someone else's behalf, and who receives the data (PIPL Art. 31, 39, 49).
BEHALF_TEXT: dict[str, dict[str, str]] = {
    "who": {"zh-CN": "为谁提出？", "en": "Who is this for?"},
    "who_self": {"zh-CN": "为我自己", "en": "For myself"},
    "who_self_help": {
        "zh-CN": "您是账户持有人。",
        "en": "You hold the account.",
    },
    "who_guardian": {"zh-CN": "为我监护的未成年人", "en": "For a child in my care"},
    "who_guardian_help": {
        "zh-CN": "您是未满 18 周岁账户持有人的父母或其他监护人"
        "（不满 14 周岁的儿童须由监护人代为行使权利）。",
        "en": "You are the parent or guardian of an account holder under 18 (a child under 14 "
        "exercises these rights through a guardian).",
    },
    "who_deceased_relative": {
        "zh-CN": "为已故的近亲属",
        "en": "For a close relative who has died",
    },
    "who_deceased_relative_help": {
        "zh-CN": "为了您自身的合法、正当利益，您可以查阅、复制、更正、删除已故近亲属的相关个人信息"
        "（《个人信息保护法》第四十九条）；注销账户不在此列。",
        "en": "For your own lawful interests you may see, copy, correct or delete a deceased "
        "relative's data (PIPL Art. 49); closing the account is not among these.",
    },
    "who_agent": {"zh-CN": "作为受托代理人", "en": "As an authorised agent"},
    "who_agent_help": {
        "zh-CN": "账户持有人已签署书面授权委托书，委托您办理（不含注销账户）。",
        "en": "The account holder signed a written authorisation for you (closing the account "
        "is not included).",
    },
    "behalf_intro": {
        "zh-CN": "上面请填写账户的手机号或邮箱；这里填写您本人的。验证码会发给您本人。"
        "验证后请上传证明材料；隐私团队核实之前，不会提供或更改任何信息，"
        "账户持有人（已故者除外）会收到通知。",
        "en": "Above, give the account's mobile or e-mail; here, your own. The code goes to "
        "you. Once verified, upload your evidence; nothing is disclosed or changed before the "
        "privacy team has checked it, and the account holder (unless deceased) is told.",
    },
    "requester_name": {"zh-CN": "您的姓名", "en": "Your name"},
    "verify_intro_behalf": {
        "zh-CN": "我们已向您本人的手机号或邮箱发送了 6 位验证码，10 分钟内有效。",
        "en": "We have sent a 6-digit code to your own mobile or e-mail, valid for 10 minutes.",
    },
    "requester_contact": {
        "zh-CN": "您本人的手机号或电子邮箱",
        "en": "Your own mobile number or e-mail",
    },
    "bad_behalf": {
        "zh-CN": "此身份不能提出这类请求，请选择其他请求类型。",
        "en": "This relationship cannot make this kind of request; choose another type.",
    },
    "behalf_title": {"zh-CN": "代他人提出的请求", "en": "Made on someone else's behalf"},
    "relationship": {"zh-CN": "您的身份", "en": "You are"},
    "evidence_status": {"zh-CN": "证明材料", "en": "Evidence"},
    "ev_awaiting": {"zh-CN": "等待隐私团队核实", "en": "Waiting for the privacy team"},
    "ev_accepted": {"zh-CN": "已核实", "en": "Checked and accepted"},
    "ev_rejected": {"zh-CN": "未通过核实", "en": "Not accepted"},
    "evidence_given": {"zh-CN": "已提交的材料", "en": "Documents you gave"},
    "evidence_deleted": {"zh-CN": "已删除", "en": "deleted"},
    "upload_title": {"zh-CN": "上传证明材料", "en": "Upload evidence"},
    "upload_help": {
        "zh-CN": "PDF、PNG 或 JPEG，不超过 5 MB，最多 5 份。材料加密保存，仅隐私团队查看，"
        "请求结束后一段时间删除。",
        "en": "PDF, PNG or JPEG, at most 5 MB, up to 5 documents. Stored encrypted, seen only "
        "by the privacy team, and deleted some time after the request is closed.",
    },
    "evidence_kind": {"zh-CN": "材料类型", "en": "Kind of document"},
    "evidence_file": {"zh-CN": "文件", "en": "File"},
    "upload": {"zh-CN": "上传", "en": "Upload"},
    "uploaded": {"zh-CN": "材料已上传。", "en": "Document uploaded."},
    "bad_upload": {
        "zh-CN": "请选择材料类型，并上传 5 MB 以内的 PDF、PNG 或 JPEG 文件。",
        "en": "Choose the kind and upload a PDF, PNG or JPEG of at most 5 MB.",
    },
    "nx_awaiting_review_behalf": {
        "zh-CN": "隐私团队会核实您的身份证明材料，核实后才会办理；结果会显示在这里。",
        "en": "The privacy team checks your evidence first and only then acts; the outcome "
        "shows here.",
    },
    "recipients_title": {"zh-CN": "谁接收这些信息", "en": "Who receives this data"},
    "recipients_intro": {
        "zh-CN": "为完成订单、配送、支付、清关和您同意的营销，我们向下列接收方提供相关类别的信息"
        "（《个人信息保护法》第二十三、三十九条）。",
        "en": "To fulfil orders, deliver, take payment, clear customs and send the marketing "
        "you agreed to, we share these categories with the recipients below (PIPL Art. 23 "
        "and 39).",
    },
    "recipient": {"zh-CN": "接收方", "en": "Recipient"},
    "recipient_categories": {"zh-CN": "信息类别", "en": "Categories"},
    "purpose": {"zh-CN": "目的", "en": "Purpose"},
    "country": {"zh-CN": "所在国家或地区", "en": "Country"},
    "abroad": {"zh-CN": "境外", "en": "abroad"},
    "recipient_contact": {"zh-CN": "联系方式", "en": "Contact"},
    "behalf_no_choices": {
        "zh-CN": "隐私选择只能由账户持有人本人设置。",
        "en": "Only the account holder sets their privacy choices.",
    },
}
