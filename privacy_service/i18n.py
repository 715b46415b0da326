"""Where the customer-facing translations live: gettext catalogs, Chinese as the source language.

The texts written in the code and templates are Chinese (zh-CN), the msgids; the ``en`` catalog
under ``translations/`` gives the English. The web pages read it through Flask-Babel
(``web/portal/i18n.py``); the core reads it here with plain Babel, no Flask.

The compiled ``.mo`` files are committed beside their ``.po`` sources, so a wheel or a plain
(non-editable) install carries them without a build step of its own; ``make translations``
extracts, updates and compiles, and ``tests/test_translations.py`` fails when a ``.mo`` differs
from its ``.po`` or a text has no English.
"""

from __future__ import annotations

import functools
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
SOURCE_LANGUAGE = "zh-CN"
LANGUAGES = (SOURCE_LANGUAGE, "en")


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalog of ``language`` ("zh-CN" or "en"); the source language needs none."""
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language.replace("-", "_")])
