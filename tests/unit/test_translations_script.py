"""scripts/translations.py's todo and apply on a scratch catalogue: the entries needing
work are found (untranslated, fuzzy, plural), apply writes only their msgstr and drops the
fuzzy mark, and msgfmt then reads the file as complete."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "translations.py"
spec = importlib.util.spec_from_file_location("translations_script", SCRIPT)
translations = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = translations  # dataclasses look their module up there
spec.loader.exec_module(translations)

HEADER = """msgid ""
msgstr ""
"Language: {lang}\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=1; plural=0;\\n"
"""
BODY = """
#: frontend/templates/frontend/live.html:1
msgid "Buy"
msgstr "{buy}"

#: frontend/templates/frontend/live.html:2
#, fuzzy, python-format
#| msgid "Order #%(id)s"
msgid ""
"Order #%(id)s is paid: a long sentence that makemessages wraps over "
"two lines"
msgstr "old"

#: frontend/templates/frontend/home.html:3
#, python-format
msgid "%(n)s household"
msgid_plural "%(n)s households"
msgstr[0] ""

#~ msgid "Gone"
#~ msgstr "ไป"
"""


@pytest.fixture
def catalogues(tmp_path, monkeypatch):
    monkeypatch.setattr(translations, "LOCALE_DIR", tmp_path)
    for lang, buy in (("th", "ซื้อเลย"), ("zh_Hans", "购买")):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "django.po").write_text(HEADER.format(lang=lang) + BODY.format(buy=buy))
    return tmp_path


def test_todo_lists_the_fuzzy_and_untranslated_entries_with_both_languages(catalogues):
    items = translations.todo()
    assert [i["msgid"] for i in items] == [
        "Order #%(id)s is paid: a long sentence that makemessages wraps over two lines",
        "%(n)s household",
    ]
    assert items[0]["th"] == "old" and items[1]["msgid_plural"] == "%(n)s households"
    assert translations.problems("th")  # not ready yet


def test_apply_fills_them_in_and_the_catalogue_is_complete(catalogues, tmp_path):
    # given: the todo list filled in
    items = translations.todo()
    items[0].update(th='คำสั่งซื้อ #%(id)s ชำระเงินแล้ว "ด่วน"', zh_Hans="订单 #%(id)s 已付款")
    items[1].update(th="%(n)s ครัวเรือน", zh_Hans="%(n)s 户")
    filled = tmp_path / "todo.json"
    filled.write_text(json.dumps(items, ensure_ascii=False))
    # when
    assert translations.apply(json.loads(filled.read_text())) == 4
    # then: nothing left, nothing else touched, and msgfmt agrees
    assert translations.todo() == []
    assert translations.problems("th") == translations.problems("zh_Hans") == []
    th = translations.po_path("th").read_text()
    assert "fuzzy" not in th and "#|" not in th and '"ซื้อเลย"' in th and '#~ msgid "Gone"' in th
    entries = {e.msgid: e for e in translations.parse(translations.po_path("th"))}
    assert entries["%(n)s household"].msgstr == ["%(n)s ครัวเรือน"]
    assert "python-format" in entries[items[0]["msgid"]].flags
    stats = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", translations.po_path("th")],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    assert stats.strip().splitlines()[-1] == "3 translated messages."


def test_a_changed_placeholder_is_a_problem(catalogues):
    items = translations.todo()
    items[0].update(th="คำสั่งซื้อ #%(order)s", zh_Hans="订单 #%(id)s 已付款")
    items[1].update(th="%(n)s ครัวเรือน", zh_Hans="户")
    translations.apply(items)
    assert len(translations.problems("th")) == 1 and "%(order)s" in translations.problems("th")[0]
    assert len(translations.problems("zh_Hans")) == 1
