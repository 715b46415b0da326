"""The gettext catalogs: compiled as committed, complete, and used by the customer page.

Chinese (zh-CN) is the source language (the msgids); ``privacy_service/translations/en`` gives
the English. The ``.mo`` files are committed (an install takes them as they are), so a ``.po``
edited without ``make translations`` must fail here, as must a text without English.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from privacy_service import i18n

pytestmark = pytest.mark.dialect_neutral  # pages, HTTP, validation (conftest.py)

CATALOGS = Path(i18n.TRANSLATIONS_DIR)
PO_FILES = sorted(CATALOGS.glob("*/LC_MESSAGES/messages.po"))
CJK = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}  # as `make translations`


def _catalog(po: Path):
    with po.open("rb") as f:
        return read_po(f, locale=po.parts[-3])


def _extracted(repo_root: Path) -> set[tuple[str | None, str]]:
    """(context, msgid) of every text in the code and templates, as `make translations` reads."""
    with (repo_root / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(repo_root), method_map, options_map, keywords=KEYWORDS
    ):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def test_there_is_an_english_catalog():
    assert [po.parts[-3] for po in PO_FILES] == ["en"]


@pytest.mark.parametrize("po", PO_FILES, ids=lambda p: p.parts[-3])
def test_compiled_catalog_matches_its_source(po):
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(po))
    mo = po.with_suffix(".mo")
    assert mo.exists() and mo.read_bytes() == compiled.getvalue(), (
        f"{mo} is not {po} compiled: run `make translations` and commit the .mo"
    )


@pytest.mark.parametrize("po", PO_FILES, ids=lambda p: p.parts[-3])
def test_every_text_in_code_and_templates_is_translated(po, repo_root):
    catalog = _catalog(po)
    extracted = _extracted(repo_root)
    assert len(extracted) > 100  # the extraction itself works (the page has ~160 texts)
    missing = sorted(
        text
        for context, text in extracted
        if (m := catalog.get(text, context=context)) is None or not m.string or m.fuzzy
    )
    assert not missing, f"untranslated in {po} (run `make translations`, translate): {missing}"
    problems = [(m.id, errors) for m, errors in catalog.check()]
    assert not problems  # e.g. a %(name)s placeholder missing from the translation
    english = [m.string for m in catalog if m.id and CJK.search(m.string)]
    assert not english, english


def test_the_page_speaks_the_browsers_language(client):
    chinese = client.get("/").get_data(as_text=True)
    assert "<h1>请求我的数据</h1>" in chinese and "获取我的数据副本" in chinese
    assert 'lang="en">English</a>' in chinese  # the switch names the other language in it
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "<h1>Request my data</h1>" in page and 'lang="zh-CN">中文</a>' in page
    # Every text of the English page is English (the shop's demo categories are too): the
    # only Chinese left is the switch back to Chinese.
    body = re.sub(r"<[^>]+>", " ", page.split("</header>", 1)[1])
    assert not CJK.findall(body), CJK.findall(body)


def test_the_language_switch_wins_over_the_browser(client):
    switched = client.get("/lang/en?next=/", headers={"Accept-Language": "zh-CN"})
    assert switched.status_code == 302 and switched.headers["Location"] == "/"
    page = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "<h1>Request my data</h1>" in page and '<html lang="en">' in page
    client.get("/lang/zh-CN")
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<h1>请求我的数据</h1>" in page and '<html lang="zh-CN">' in page
    client.get("/lang/fr")  # not a language of the page: the choice stays
    assert "<h1>请求我的数据</h1>" in client.get("/").get_data(as_text=True)


def test_form_errors_and_numbers_in_english(client):
    client.get("/lang/en")
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post("/", data={"csrf": token, "type": "access", "contact": "nobody"})
    assert answer.status_code == 422
    assert "Enter a valid mainland mobile number or email address." in answer.get_data(as_text=True)
    where = client.post(
        "/", data={"csrf": token, "type": "access", "contact": "demo@example.com"}
    ).headers["Location"]
    client.post(where, data={"csrf": token, "code": "000000"})
    shown = client.get(where).get_data(as_text=True)
    assert re.search(r"That code is not right\. Attempts left: \d", shown), shown
