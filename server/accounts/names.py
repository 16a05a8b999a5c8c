"""What makes two names the same name, and which names may stand beside each other.

Two forms, computed once and stored on the user (docs/api.md, "Usernames"):

- the *key*: NFKC then casefold. ``Somchai``, ``SOMCHAI``, ``somchai`` spelled with a long s
  (U+017F) or in full-width letters share one key; it is unique in the database and every
  login looks the user up by it, so one name can never match two accounts.
- the *skeleton*: the key with every look-alike letter replaced by one prototype (Cyrillic
  U+043E and Greek U+03BF by Latin ``o``, digit ``0`` by ``o``, ``1`` by ``l``) and the
  punctuation and spaces dropped. Two names with one skeleton read the same on a phone
  screen, so a new name whose skeleton is taken is refused.
"""

import functools
import unicodedata

from confusable_homoglyphs import categories, confusables

# Scripts whose letters copy each other's shapes; one name may use only one of them.
LOOKALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})
# Joiners that emoji sequences and some scripts need; every other format character
# (bidi overrides, zero-width spaces) only hides what a name really is.
ALLOWED_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})


def username_key(name: str) -> str:
    """The one normal form a username is stored, compared and looked up by."""
    return unicodedata.normalize("NFKC", name).casefold()


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each character with a plain-ASCII look-alike, mapped to it (lower case)."""
    table: dict[str, str] = {}
    for char, entries in confusables.confusables_data.items():
        if len(char) != 1 or (char.isascii() and char.isalpha() and char.islower()):
            continue
        ascii_twins = sorted(
            entry["c"].casefold()
            for entry in entries
            if len(entry["c"]) == 1 and entry["c"].isascii() and entry["c"].isalnum()
        )
        if not ascii_twins:
            continue
        letters = [twin for twin in ascii_twins if twin.isalpha()]
        table[char] = (letters or ascii_twins)[0]
    return table


def skeleton(text: str) -> str:
    """The shape of ``text`` as a reader sees it: equal skeletons mean confusable names."""
    prototypes = _prototypes()
    out = []
    for char in username_key(text):
        category = unicodedata.category(char)
        if category[0] in "PZ" or category == "Cf":
            continue
        out.append(prototypes.get(char, char))
    return "".join(out)


def mixes_lookalike_scripts(name: str) -> bool:
    """Latin, Cyrillic and Greek letters in one name: the classic spoof (``paypal``
    with a Cyrillic U+0430).
    Thai or Chinese beside Latin is normal and allowed."""
    return len(categories.unique_aliases(name) & LOOKALIKE_SCRIPTS) > 1


def display_name_normal(value: str) -> str:
    """NFKC and trimmed; raises ``ValueError`` for control or invisible characters."""
    value = unicodedata.normalize("NFKC", value).strip()
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Co", "Cn") or (
            category == "Cf" and char not in ALLOWED_FORMAT_CHARS
        ):
            raise ValueError(f"U+{ord(char):04X}")
    return value
