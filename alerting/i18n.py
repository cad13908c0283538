"""Message catalogs (gettext .po files read with Babel) and locale-aware formatting.

Every fixed string a Slack message shows lives in ``alerting/templates/locale/<lang>.po``;
the English msgid is the key. A missing or empty translation falls back to English. Dates,
numbers and durations are formatted by Babel in the locale ("il y a 5 minutes").
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, timedelta
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALE_DIR = Path(__file__).parent / "templates" / "locale"
SUPPORTED_LOCALES = ("en", "fr", "de")
FALLBACK_LOCALE = "en"
PLACEHOLDER_RE = re.compile(r"%\((\w+)\)s")


@lru_cache(maxsize=len(SUPPORTED_LOCALES))
def catalog(locale: str) -> dict[str, str]:
    """msgid → msgstr for a locale (empty translations left out, so they fall back)."""
    with (LOCALE_DIR / f"{locale}.po").open("rb") as fh:
        parsed = read_po(fh, locale=locale)
    return {
        str(message.id): str(message.string)
        for message in parsed
        if message.id and isinstance(message.id, str) and message.string
    }


class Translator:
    """Strings, dates, numbers and durations for one locale."""

    def __init__(self, locale: str) -> None:
        if locale not in SUPPORTED_LOCALES:
            raise ValueError(f"{locale!r} is not supported; use {', '.join(SUPPORTED_LOCALES)}")
        self.locale = locale
        # Parsed once: Babel parses a locale given as a string on every call.
        self._babel = Locale.parse(locale)

    def gettext(self, msgid: str, **values: object) -> str:
        text = catalog(self.locale).get(msgid) or catalog(FALLBACK_LOCALE).get(msgid) or msgid
        return text % values if values else text

    def datetime(self, moment: dt.datetime) -> str:
        return (
            str(format_datetime(moment.astimezone(UTC), "medium", tzinfo=UTC, locale=self._babel))
            + " UTC"
        )

    def ago(self, moment: dt.datetime, now: dt.datetime | None = None) -> str:
        delta = moment - (now or dt.datetime.now(UTC))
        return str(format_timedelta(delta, add_direction=True, locale=self._babel))

    def duration(self, delta: timedelta) -> str:
        return str(format_timedelta(delta, threshold=1.5, locale=self._babel))

    def number(self, value: float) -> str:
        return str(format_decimal(value, locale=self._babel))


@lru_cache(maxsize=len(SUPPORTED_LOCALES))
def translator(locale: str) -> Translator:
    return Translator(locale)
