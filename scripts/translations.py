#!/usr/bin/env python3
"""Keep the Thai and Chinese catalogues complete, one command per step (docs/frontend.md,
"Translations").

    scripts/translations.py update          # makemessages th + zh_Hans over the project
    scripts/translations.py todo > todo.json   # what lacks a translation (or is fuzzy)
    scripts/translations.py apply todo.json # write the filled-in translations back
    scripts/translations.py check           # nothing missing, placeholders kept, msgfmt -c
    scripts/translations.py compile         # the .mo files the server reads

Why a script: pages are added by several people, and every new sentence must reach both
languages before a release. ``todo`` hands a translator (or a reviewer) one JSON list with
both languages side by side instead of two long .po files, and ``apply`` only touches the
msgstr of the entries it is given, so makemessages' layout and comments stay as they are.
It needs Python and GNU gettext (msgfmt) only; ``update`` and ``compile`` also need the
project's settings (run with the same environment as the tests).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "frontend" / "locale"
LANGUAGES = ("th", "zh_Hans")
# Not shipped, or not ours: the virtualenv, tests, benchmarks.
IGNORE = (".venv", "tests", "bench", "node_modules", "docs")
# %(name)s / %s / %d (Django, Python), {name} (the data-msg-* strings modules fill in) and
# %% (a literal percent sign in a template's msgid: a lone % would be taken as a format).
PLACEHOLDER = re.compile(
    r"%%|%\([A-Za-z_][A-Za-z0-9_]*\)[sdfir]|%[sdfir]|\{[A-Za-z_][A-Za-z0-9_]*\}"
)


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


@dataclass
class Entry:
    """One catalogue entry; ``start``/``end`` are its line numbers in the file (end excluded)."""

    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: list[str] = field(default_factory=list)  # one string, or msgstr[0..n]
    flags: set[str] = field(default_factory=set)
    refs: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0
    msgstr_line: int = 0  # where the msgstr lines begin

    @property
    def key(self) -> str:
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt is not None else self.msgid

    @property
    def missing(self) -> bool:
        return "fuzzy" in self.flags or not self.msgstr or any(not s for s in self.msgstr)


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    return re.sub(
        r"\\(.)", lambda m: {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(m[1], m[1]), body
    )


def _quote(text: str) -> str:
    return (
        '"'
        + text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n")
        + '"'
    )


def parse(path: Path) -> list[Entry]:
    """The entries of a .po file (the header and obsolete ``#~`` entries left out)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # which field continuation lines extend

    def close(at: int) -> None:
        nonlocal current
        if current is not None and current.msgid:
            current.end = at
            entries.append(current)
        current = None

    for number, line in enumerate(lines):
        if not line.strip():
            close(number)
            continue
        if line.startswith("#~"):
            continue
        if current is None:
            current = Entry(start=number)
        if line.startswith("#,"):
            current.flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
        elif line.startswith("#:"):
            current.refs += line[2:].split()
        elif line.startswith("#"):
            continue
        elif line.startswith("msgctxt "):
            current.msgctxt, target = _unquote(line[8:]), ("msgctxt", 0)
        elif line.startswith("msgid_plural "):
            current.msgid_plural, target = _unquote(line[13:]), ("msgid_plural", 0)
        elif line.startswith("msgid "):
            current.msgid, target = _unquote(line[6:]), ("msgid", 0)
        elif line.startswith("msgstr"):
            if not current.msgstr:
                current.msgstr_line = number
            head, _, text = line.partition(" ")
            index = int(head[7:-1]) if head.startswith("msgstr[") else 0
            while len(current.msgstr) <= index:
                current.msgstr.append("")
            current.msgstr[index] = _unquote(text)
            target = ("msgstr", index)
        elif line.startswith('"') and target is not None:
            name, index = target
            if name == "msgstr":
                current.msgstr[index] += _unquote(line)
            else:
                setattr(current, name, (getattr(current, name) or "") + _unquote(line))
    close(len(lines))
    return entries


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def problems(language: str) -> list[str]:
    """Every reason this catalogue is not ready: missing, fuzzy, or a placeholder changed."""
    found = []
    for entry in parse(po_path(language)):
        label = f"{language}: {entry.msgid!r}"
        if entry.missing:
            found.append(f"{label} has no translation (or is fuzzy)")
            continue
        # nplurals=1: the one msgstr stands for singular and plural, so it keeps the
        # placeholders of both (Django fills them from the same dict).
        wanted = set(placeholders(entry.msgid)) | set(placeholders(entry.msgid_plural or ""))
        for i, text in enumerate(entry.msgstr):
            if set(placeholders(text)) != wanted:
                got = sorted(set(placeholders(text)))
                found.append(f"{label} msgstr[{i}] has {got}, wants {sorted(wanted)}")
    return found


def todo() -> list[dict]:
    """Entries missing in any language, both languages side by side."""
    catalogs = {lang: {e.key: e for e in parse(po_path(lang))} for lang in LANGUAGES}
    keys = list(dict.fromkeys(k for lang in LANGUAGES for k in catalogs[lang]))
    out = []
    for key in keys:
        entries = {lang: catalogs[lang].get(key) for lang in LANGUAGES}
        if not any(e is not None and e.missing for e in entries.values()):
            continue
        first = next(e for e in entries.values() if e is not None)
        item: dict = {"msgid": first.msgid}
        if first.msgid_plural is not None:
            item["msgid_plural"] = first.msgid_plural
        if first.msgctxt is not None:
            item["msgctxt"] = first.msgctxt
        item["where"] = first.refs[:3]
        for lang, e in entries.items():
            item[lang] = e.msgstr[0] if e is not None and e.msgstr else ""
        out.append(item)
    return out


def apply(items: list[dict]) -> int:
    """Write each item's translations into its entry (msgstr only; the fuzzy mark goes)."""
    changed = 0
    for language in LANGUAGES:
        path = po_path(language)
        lines = path.read_text(encoding="utf-8").splitlines()
        entries = {e.key: e for e in parse(path)}
        # Bottom-up, so earlier entries' line numbers stay right while later ones change.
        edits = []
        for item in items:
            text = item.get(language) or ""
            key = (
                f"{item['msgctxt']}\x04{item['msgid']}"
                if item.get("msgctxt") is not None
                else item["msgid"]
            )
            entry = entries.get(key)
            if not text or entry is None:
                continue
            edits.append((entry, text))
        for entry, text in sorted(edits, key=lambda pair: -pair[0].start):
            if entry.msgid_plural is not None:
                body = [f"msgstr[0] {_quote(text)}"]
            else:
                body = [f"msgstr {_quote(text)}"]
            head = []
            for line in lines[entry.start : entry.msgstr_line]:
                if line.startswith("#,"):
                    flags = [
                        f.strip() for f in line[2:].split(",") if f.strip() and f.strip() != "fuzzy"
                    ]
                    if flags:
                        head.append("#, " + ", ".join(flags))
                elif not line.startswith("#|"):
                    head.append(line)
            lines[entry.start : entry.end] = head + body
            changed += 1
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


def manage(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    python = ROOT / ".venv" / "bin" / "python"
    subprocess.run(  # noqa: S603 - our own manage.py
        [str(python if python.exists() else sys.executable), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
    )


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if command == "update":
        ignores = [arg for name in IGNORE for arg in ("--ignore", name)]
        langs = [arg for lang in LANGUAGES for arg in ("--locale", lang)]
        manage("makemessages", *langs, *ignores, "--no-obsolete", "--extension", "html,txt,py")
        print(
            f"{len(todo())} entries need a translation: scripts/translations.py todo",
            file=sys.stderr,
        )
    elif command == "todo":
        json.dump(todo(), sys.stdout, ensure_ascii=False, indent=1)
        print()
    elif command == "apply":
        items = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        print(f"{apply(items)} translations written", file=sys.stderr)
    elif command == "check":
        found = [p for lang in LANGUAGES for p in problems(lang)]
        for lang in LANGUAGES:
            result = subprocess.run(  # noqa: S603 - GNU gettext on our own files
                ["msgfmt", "--check", "--output-file=/dev/null", str(po_path(lang))],  # noqa: S607
                capture_output=True,
                text=True,
            )
            if result.returncode:
                found.append(f"{lang}: msgfmt --check: {result.stderr.strip()}")
        print("\n".join(found) or "th and zh_Hans: complete", file=sys.stderr)
        return 1 if found else 0
    elif command == "compile":
        # Ours only: without --ignore, compilemessages also rewrites the .mo files of every
        # installed package under .venv.
        manage(
            "compilemessages", "--ignore", ".venv", "--ignore", ".data",
            *[arg for lang in LANGUAGES for arg in ("--locale", lang)],
        )  # fmt: skip
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
