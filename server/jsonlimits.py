"""JSON from clients, parsed with limits: the REST parser (``server.api``) and the live
channel (``streams.consumers``) both read client JSON through ``loads`` here.

Python's ``json`` accepts what our code then cannot hold: ``1e9999999999999999999`` (a
``Decimal`` that raises ``InvalidOperation``), thousands of nested brackets (a
``RecursionError`` in the parser or in whatever walks the result), ``NaN`` and
``Infinity``, and ``"\\ud800"`` (half a surrogate pair, which no UTF-8 encoder takes).
Each of these is a client's mistake, so each becomes ``JSONRefused`` (a ``ValueError``),
which callers answer with ``invalid``.
"""

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

# No request or frame of ours nests deeper than a few levels.
MAX_DEPTH = 32
# Characters of a number with a fraction or an exponent: more than any amount holds, far
# fewer than what costs CPU to convert. Integers are bounded by Python's own limit on
# digits (a ValueError past 4,300); their range is the schema's job.
MAX_NUMBER_CHARS = 64
# A Decimal with an exponent past this is no price or quantity.
MAX_EXPONENT = 64
# Every id column is a PostgreSQL bigint: a larger id is refused by the schema that reads
# it (serializers, ``streams.messages``), not by the database as a server error.
BIGINT_MAX = 2**63 - 1


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JSONRefused(ValueError):
    """Not JSON we accept; the message says why, for the client."""


def loads(text: str | bytes) -> Any:
    """``text`` parsed with numbers with a fraction as ``Decimal`` (money is never a float),
    within the limits above. Raises ``JSONRefused``."""
    try:
        value = json.loads(text, parse_float=_parse_decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise JSONRefused(f"Nested too deeply: at most {MAX_DEPTH} levels.") from None
    except JSONRefused:
        raise
    except (ValueError, ArithmeticError, UnicodeDecodeError) as exc:
        raise JSONRefused(f"Malformed JSON: {exc}") from None
    if _depth(value) > MAX_DEPTH:
        raise JSONRefused(f"Nested too deeply: at most {MAX_DEPTH} levels.")
    if _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("latin1")):
        # A pair is one character once parsed; a lone half cannot be encoded (in a reply,
        # in PostgreSQL), so it is refused here and not deep in whatever stores it.
        try:
            json.dumps(value, ensure_ascii=False, default=str).encode()
        except UnicodeEncodeError:
            raise JSONRefused("Text that is not valid Unicode (a lone surrogate).") from None
    return value


def _parse_decimal(raw: str) -> Decimal:
    if len(raw) > MAX_NUMBER_CHARS:
        raise JSONRefused(f"A number longer than {MAX_NUMBER_CHARS} characters.")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise JSONRefused(f"{raw[:20]} is out of range.") from None
    if abs(value.adjusted()) > MAX_EXPONENT:
        raise JSONRefused(f"{raw[:20]} is out of range.")
    return value


def _reject_constant(name: str) -> None:
    raise JSONRefused(f"{name} is not a number.")


def _depth(value: Any) -> int:
    """How deeply containers nest in ``value``, level by level (no recursion, and only
    containers are visited). ``json`` makes exact dicts and lists, so an exact type test
    does, at a fraction of ``isinstance``'s cost per value."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level and depth <= MAX_DEPTH:
        depth += 1
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            below += [child for child in children if type(child) in _CONTAINERS]
        level = below
    return depth


_CONTAINERS = frozenset({dict, list})
