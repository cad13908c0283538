"""The slash command's text as a command: ``/alerts ack 3f2a9c1e``.

Pure: no database, no Slack. A mistake raises :class:`CommandError` with what is wrong and
the right form, which the caller shows as one line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from enum import StrEnum

from alerting.domain.durations import parse_duration
from alerting.domain.matchers import Matcher

#: Longest command text read, in characters (Slack itself caps it around 4000).
MAX_TEXT_CHARS = 2000
#: Shortest alert or silence id prefix accepted (the list shows 8 characters).
MIN_ID_PREFIX = 6
#: Longest silence a command may set, in seconds (a week, like the CLI's sensible use).
MAX_SILENCE_SECONDS = 30 * 86400
_ID_RE = re.compile(r"^[0-9a-fA-F-]{6,36}$")


class Verb(StrEnum):
    LIST = "list"
    SHOW = "show"
    ACK = "ack"
    RESOLVE = "resolve"
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    ESCALATE = "escalate"
    ONCALL = "oncall"
    INCIDENTS = "incidents"
    HELP = "help"


#: The right form of each verb, shown with a mistake and by ``help``.
USAGE: dict[Verb, str] = {
    Verb.LIST: "list [firing|acknowledged] [matchers]",
    Verb.SHOW: "show ID",
    Verb.ACK: "ack ID",
    Verb.RESOLVE: "resolve ID [note]",
    Verb.SILENCE: "silence MATCHERS DURATION COMMENT",
    Verb.UNSILENCE: "unsilence ID",
    Verb.ESCALATE: "escalate ID",
    Verb.ONCALL: "oncall [schedule]",
    Verb.INCIDENTS: "incidents",
    Verb.HELP: "help",
}


def _(msgid: str) -> str:
    """Marks a string for the catalogs; translated where it is shown."""
    return msgid


class CommandError(ValueError):
    """Bad input: ``reason`` is what is wrong, ``usage`` the right form (without the command)."""

    def __init__(self, reason: str, usage: str, **values: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage
        self.values = values


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    #: Alert id (or prefix) for show/ack/resolve/escalate, silence id for unsilence.
    target: str | None = None
    #: ``list``: firing, acknowledged or None for both.
    status: str | None = None
    matchers: tuple[Matcher, ...] = ()
    #: ``silence``: seconds.
    duration: float | None = None
    #: ``silence``: the comment; ``resolve``: the note.
    text: str = ""
    #: ``oncall``: the schedule's name.
    schedule: str | None = None
    words: tuple[str, ...] = field(default=(), compare=False)


def parse_command(text: str) -> Command:
    if len(text) > MAX_TEXT_CHARS:
        raise CommandError(
            _("The text is too long (%(count)s characters, at most %(limit)s)."),
            USAGE[Verb.HELP],
            count=len(text),
            limit=MAX_TEXT_CHARS,
        )
    try:
        words = shlex.split(text)
    except ValueError:
        raise CommandError(_("A quote is not closed."), USAGE[Verb.HELP]) from None
    if not words:
        return Command(Verb.HELP)
    try:
        verb = Verb(words[0].lower())
    except ValueError:
        raise CommandError(
            _("Unknown command %(word)s."), USAGE[Verb.HELP], word=repr(words[0])
        ) from None
    return _PARSERS[verb](verb, words[1:])


def _no_args(verb: Verb, args: list[str]) -> Command:
    if args:
        raise CommandError(_("Too many words."), USAGE[verb])
    return Command(verb)


def _one_id(verb: Verb, args: list[str]) -> Command:
    if len(args) != 1:
        raise CommandError(_("Give exactly one ID."), USAGE[verb])
    return Command(verb, target=_check_id(verb, args[0]))


def _check_id(verb: Verb, word: str) -> str:
    if not _ID_RE.fullmatch(word):
        raise CommandError(
            _("%(word)s is not an ID (at least 6 characters of the ID the list shows)."),
            USAGE[verb],
            word=repr(word),
        )
    return word.lower()


def _resolve(verb: Verb, args: list[str]) -> Command:
    if not args:
        raise CommandError(_("Give exactly one ID."), USAGE[verb])
    return Command(verb, target=_check_id(verb, args[0]), text=" ".join(args[1:]))


def _list(verb: Verb, args: list[str]) -> Command:
    status = None
    if args and args[0].lower() in ("firing", "acknowledged"):
        status = args[0].lower()
        args = args[1:]
    return Command(verb, status=status, matchers=_matchers(verb, args))


def _matchers(verb: Verb, words: list[str]) -> tuple[Matcher, ...]:
    out = []
    for word in words:
        try:
            out.append(Matcher.parse(word))
        except ValueError:
            raise CommandError(
                _("%(word)s is not a matcher (name=value, name!=value, name=~regex)."),
                USAGE[verb],
                word=repr(word),
            ) from None
    return tuple(out)


def _silence(verb: Verb, args: list[str]) -> Command:
    # Matchers run up to the first word that reads as a duration; the rest is the comment.
    for index, word in enumerate(args):
        if "=" in word or "~" in word:
            continue
        try:
            seconds = parse_duration(word)
        except ValueError:
            raise CommandError(
                _("%(word)s is neither a matcher nor a duration (15m, 2h, 1h30m)."),
                USAGE[verb],
                word=repr(word),
            ) from None
        matchers = _matchers(verb, args[:index])
        comment = " ".join(args[index + 1 :]).strip()
        if not matchers:
            raise CommandError(_("Give at least one matcher before the duration."), USAGE[verb])
        if not 0 < seconds <= MAX_SILENCE_SECONDS:
            raise CommandError(_("The duration must be between 1s and 30d."), USAGE[verb])
        if not comment:
            raise CommandError(_("Say why in a comment after the duration."), USAGE[verb])
        return Command(verb, matchers=matchers, duration=seconds, text=comment)
    raise CommandError(_("Give a duration (15m, 2h, 1h30m) after the matchers."), USAGE[verb])


def _oncall(verb: Verb, args: list[str]) -> Command:
    if len(args) > 1:
        raise CommandError(_("Too many words."), USAGE[verb])
    return Command(verb, schedule=args[0] if args else None)


_PARSERS = {
    Verb.LIST: _list,
    Verb.SHOW: _one_id,
    Verb.ACK: _one_id,
    Verb.RESOLVE: _resolve,
    Verb.SILENCE: _silence,
    Verb.UNSILENCE: _one_id,
    Verb.ESCALATE: _one_id,
    Verb.ONCALL: _oncall,
    Verb.INCIDENTS: _no_args,
    Verb.HELP: _no_args,
}
