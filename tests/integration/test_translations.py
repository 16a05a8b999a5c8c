"""The Thai and Chinese catalogues are complete and the pages speak them.

Checked with GNU gettext and Python's own ``gettext`` reader (not with the project's
scripts/translations.py, so a bug there cannot hide a gap here): nothing untranslated or
fuzzy, the same placeholders in every translation, the committed .mo files compiled from
the committed .po files, and the catalogues hold every message the source has today. Then
the live page, asked for in Thai and in Chinese, shows its labels, and every sentence its
scripts show (the data-msg-* attributes), in that language."""

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

from tests.integration.order_world import user, world

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "frontend" / "locale"
LANGUAGES = ["th", "zh_Hans"]
PLACEHOLDER = re.compile(r"%%|%\([A-Za-z_]\w*\)[sdfir]|%[sdfir]|\{[A-Za-z_]\w*\}")
# What makemessages skips (scripts/translations.py IGNORE), and what it needs no copy of.
SKIP = (".venv", ".git", "tests", "bench", "docs", "node_modules", "locale", "static", "*.pyc",
        "__pycache__", ".ruff_cache", ".pytest_cache")  # fmt: skip
UPDATE = "scripts/translations.py update, todo, apply, check, compile (docs/frontend.md)"


def po(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


def gettext_tool(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def compiled(po_file: Path, tmp_path: Path) -> dict:
    """msgid -> msgstr as Django will read it: msgfmt --check, then Python's reader."""
    mo = tmp_path / f"{po_file.parent.parent.name}.mo"
    gettext_tool("msgfmt", "--check", "-o", str(mo), str(po_file))
    with mo.open("rb") as handle:
        return gettext.GNUTranslations(handle)._catalog


def msgids(po_file: Path, scratch: Path) -> set[str]:
    """Every msgid in a .po file (header left out), read back through msgfmt with each
    msgstr replaced by its msgid (msgen), so untranslated entries count too."""
    english = scratch / f"{po_file.parent.parent.name}.en.po"
    gettext_tool("msgen", "-o", str(english), str(po_file))
    mo = english.with_suffix(".mo")
    gettext_tool("msgfmt", "-o", str(mo), str(english))
    with mo.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    return ids(catalog)


def ids(catalog: dict) -> set[str]:
    """The msgids of a parsed .mo (plural entries are keyed (msgid, n)); no header."""
    return {key[0] if isinstance(key, tuple) else key for key in catalog} - {""}


@pytest.mark.parametrize("language", LANGUAGES)
def test_nothing_is_untranslated_or_fuzzy(language):
    untranslated = gettext_tool("msgattrib", "--untranslated", "--no-wrap", str(po(language)))
    fuzzy = gettext_tool("msgattrib", "--only-fuzzy", "--no-wrap", str(po(language)))
    assert "msgid" not in untranslated, f"untranslated in {language}; run {UPDATE}\n{untranslated}"
    assert "msgid" not in fuzzy, f"fuzzy in {language}; run {UPDATE}\n{fuzzy}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_keeps_the_placeholders_and_says_something(language, tmp_path):
    catalog = compiled(po(language), tmp_path)
    wrong = []
    for key, text in catalog.items():
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid:
            continue  # the header
        if not text.strip():
            wrong.append((msgid, "empty"))
        elif set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(msgid)):
            wrong.append((msgid, text))
    assert not wrong, wrong
    # every entry made it into the compiled catalogue (none dropped as empty or fuzzy)
    assert ids(catalog) == msgids(po(language), tmp_path)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_is_compiled_from_the_committed_po(language, tmp_path):
    mo = po(language).with_suffix(".mo")
    with mo.open("rb") as handle:
        committed = gettext.GNUTranslations(handle)._catalog
    fresh = compiled(po(language), tmp_path)
    committed.pop("", None)
    fresh.pop("", None)
    assert committed == fresh, f"recompile: {UPDATE}"


def test_the_catalogues_hold_every_message_the_source_has(tmp_path, monkeypatch):
    # given: makemessages over a copy of the source without its locale folder (makemessages
    # writes into any locale/ it walks past), into a scratch catalogue
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*SKIP), symlinks=True)
    monkeypatch.chdir(copy)
    scratch = tmp_path / "locale"
    scratch.mkdir()
    with override_settings(LOCALE_PATHS=[scratch]):
        call_command("makemessages", locale=["th"], extensions=["html", "txt", "py"], verbosity=0)
    # then: every message the source has today is in both catalogues
    source = msgids(scratch / "th" / "LC_MESSAGES" / "django.po", tmp_path)
    assert len(source) > 300
    for language in LANGUAGES:
        missing = source - msgids(po(language), tmp_path)
        assert not missing, f"not in {language} yet; run {UPDATE}: {sorted(missing)}"


# --- the live page in Thai and Chinese -----------------------------------------------------

LABELS = {
    "th": {"Claim": "เก็บคูปอง", "Buy": "ซื้อเลย", "Chat": "แชต", "Send": "ส่ง",
           "Coupons left": "คูปองเหลือ", "Pinned product": "สินค้าที่ปักหมุด",
           "Connecting…": "กำลังเชื่อมต่อ…", "Say something…": "พิมพ์อะไรสักหน่อย…"},
    "zh-hans": {"Claim": "领取", "Buy": "购买", "Chat": "聊天", "Send": "发送",
                "Coupons left": "剩余优惠券", "Pinned product": "置顶商品",
                "Connecting…": "正在连接…", "Say something…": "说点什么…"},
}  # fmt: skip
SCRIPT_TEXT = re.compile(r'\sdata-(msg|state)-([a-z-]+)="([^"]*)"')


@pytest.fixture
def live():
    """A live session with a pinned product, and a signed-in viewer."""
    w = world(pinned=True)
    return {"session": w["session"].pk, "viewer": user("nok")}


def live_page(live: dict, language: str) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(live["viewer"])
    response = client.get(f"/live/{live['session']}/")
    assert response.status_code == 200
    assert response["Content-Language"] == language
    return response.content.decode()


def script_text(page: str) -> dict:
    return {(kind, name): text for kind, name, text in SCRIPT_TEXT.findall(page)}


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["th", "zh-hans"])
def test_the_live_page_shows_its_labels_in_the_viewers_language(live, language):
    page = live_page(live, language)
    for english, translated in LABELS[language].items():
        assert translated in page, (english, translated)
    # the buttons themselves, not just somewhere on the page
    claim = re.search(r"<button[^>]*data-claim[^>]*>([^<]*)</button>", page)[1]
    buy = re.search(r"<button[^>]*data-buy [^>]*>([^<]*)</button>", page)[1]
    assert (claim, buy) == (LABELS[language]["Claim"], LABELS[language]["Buy"])
    assert f'<html lang="{language}"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["th", "zh-hans"])
def test_every_sentence_the_scripts_show_is_translated(live, language):
    # given: the same page in English and in the viewer's language
    english = script_text(live_page(live, "en"))
    translated = script_text(live_page(live, language))
    # then: the scripts' words (data-msg-*, data-state-*) are all there, none left in English
    assert len(english) > 40 and english.keys() == translated.keys()
    same = {key: text for key, text in translated.items() if text == english[key]}
    assert not same, same
    # and their {placeholders} survive, for the modules to fill in
    for key, text in english.items():
        assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", translated[key]))
