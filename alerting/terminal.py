"""Tenant-provided text on the operator's terminal: shown literally, never interpreted.

Alert messages, labels, silence comments and the names of who acknowledged come from tenants.
Printed through rich they would be read as markup (``[/]`` even crashes it), and printed raw
their escape sequences would drive the terminal (colours, cursor moves, a cleared screen, a
changed title). :func:`inert` shows control characters as Python escapes instead, and returns
a :class:`rich.text.Text`, which rich never parses as markup.
"""

from __future__ import annotations

import re

from rich.text import Text

#: C0 controls but newline and tab, DEL, C1 controls, the bidirectional overrides and
#: isolates that can make text read differently from what it is, and lone surrogates (which
#: no terminal encoding can print).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
#: The same, newline and tab included: for text that must stay on one line.
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def inert_str(value: object, *, one_line: bool = False) -> str:
    """``value`` as text whose control characters are shown escaped (``\\x1b``); with
    ``one_line``, newlines and tabs too."""
    return (_CONTROL_ONE_LINE if one_line else _CONTROL).sub(_escaped, str(value))


def inert(value: object) -> Text:
    """``value`` for rich: no markup, control characters shown escaped."""
    return Text(inert_str(value))
