"""The customer page's language: which one a browser gets, and the texts that need numbers.

Texts are gettext calls with the Chinese text as msgid (``_("提交")`` in templates and code);
the English comes from the ``en`` catalog (``privacy_service/translations``, Flask-Babel). The
language is the one chosen on the page (``/lang/<code>``, kept in the session), else the
browser's Accept-Language, else Chinese.
"""

from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel, gettext, refresh

from privacy_service.i18n import LANGUAGES, SOURCE_LANGUAGE, TRANSLATIONS_DIR
from privacy_service.web.portal.labels import PROGRESS, TABLES


def current_language() -> str:
    """The page's language: "zh-CN" or "en"."""
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh-CN")
    return "en" if best == "en" else SOURCE_LANGUAGE


def _babel_locale() -> str:
    return current_language().replace("-", "_")


def install(app: Flask) -> None:
    """Flask-Babel on ``app``: ``_()`` in templates, the page's language, the catalogs."""
    Babel(
        app,
        locale_selector=_babel_locale,
        default_locale=SOURCE_LANGUAGE.replace("-", "_"),
        default_translation_directories=str(TRANSLATIONS_DIR),
    )
    # Flask-Babel keeps the chosen locale on ``g``; a caller that holds one app context across
    # requests (tests, scripts) shares ``g``: choose again for every request.
    app.before_request(refresh)


def progress_text(progress: dict) -> str:
    """An export's progress in words ("Building: 3 of 11 categories done")."""
    if progress["state"] != "building":
        return str(PROGRESS.get(progress["state"], progress["state"]))
    total = progress.get("categories_total")
    return gettext(
        "正在生成：已完成 %(done)s/%(total)s 个类别",
        done=progress.get("categories_done") or 0,
        total=total if total else "?",
    )


def table_label(name: str) -> str:
    """A shop table's name as the customer reads it (its name when none is configured)."""
    return str(TABLES.get(name, name))
