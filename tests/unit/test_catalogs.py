"""The catalogs: complete in fr, en and de, with the same placeholders everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from alerting.i18n import LOCALE_DIR, PLACEHOLDER_RE, SUPPORTED_LOCALES, translator

ROOT = Path(__file__).resolve().parents[2]
#: Literal msgids passed to gettext / _ in code and templates.
USE_RE = re.compile(r"""(?:gettext|\b_)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def _entries(locale: str) -> dict[str, str]:
    with (LOCALE_DIR / f"{locale}.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh, locale=locale) if m.id}


def _used_msgids() -> set[str]:
    found: set[str] = set()
    files = [*ROOT.glob("alerting/**/*.py"), *ROOT.glob("alerting/templates/alerts/*.j2")]
    for path in files:
        for double, single in USE_RE.findall(path.read_text(encoding="utf-8")):
            found.add(double or single)
    # Severity names are looked up by value.
    found.update({"CRITICAL", "ERROR", "WARNING", "INFO"})
    return found


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_string_used_is_translated(locale: str) -> None:
    entries = _entries(locale)
    used = _used_msgids()
    assert len(used) > 20
    missing = sorted(m for m in used if not entries.get(m))
    assert not missing, f"{locale}: missing or untranslated: {missing}"


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    english = _entries("en")
    for locale in SUPPORTED_LOCALES:
        entries = _entries(locale)
        assert set(entries) == set(english), locale
        for msgid, text in entries.items():
            assert set(PLACEHOLDER_RE.findall(text)) == set(PLACEHOLDER_RE.findall(msgid)), (
                f"{locale}: {msgid!r} → {text!r}"
            )


def test_french_and_german_are_not_left_in_english() -> None:
    same = {"Type", "Source", "INFO", "Labels", "Runbook", "Dashboard"}
    for locale in ("fr", "de"):
        untranslated = [m for m, t in _entries(locale).items() if m == t and m not in same]
        if locale == "fr":
            untranslated = [m for m in untranslated if m not in {"source %(source)s"}]
        assert not untranslated, f"{locale}: {untranslated}"


def test_relative_times_and_numbers_follow_the_locale() -> None:
    from datetime import UTC, datetime, timedelta

    five_minutes_ago = datetime.now(UTC) - timedelta(minutes=5)
    assert translator("fr").ago(five_minutes_ago) == "il y a 5 minutes"
    assert translator("de").ago(five_minutes_ago) == "vor 5 Minuten"
    assert translator("en").ago(five_minutes_ago) == "5 minutes ago"
    assert translator("de").number(1234.5) == "1.234,5"
    assert translator("fr").gettext("Acknowledged by %(who)s", who="A") == "Pris en charge par A"
    # Unknown strings fall back to English, then to the key itself.
    assert translator("de").gettext("no such key") == "no such key"
