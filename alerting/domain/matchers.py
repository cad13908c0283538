"""Label matchers, as SREs write them for Alertmanager: ``name op value``.

One language for every place that selects alerts: routes, silences, inhibition rules and
maintenance windows. ``op`` is ``=``, ``!=``, ``=~`` or ``!~``; regular expressions are anchored
(the whole value must match), as in Alertmanager. A label the alert does not carry counts as the
empty string, so ``team!=db`` matches alerts with no ``team`` and ``team=""`` selects them.

Besides labels, three names select the alert's own fields: ``alert_type`` (``alertname`` is the
same, for Alertmanager habits), ``severity`` and ``environment``. On ``alert_type``, ``=`` and
``!=`` take shell globs (``disk_*``), since alert types are identifiers and never contain ``*``.

Regular expressions run on RE2 (Alertmanager's own syntax, Go's ``regexp``): matching takes time
linear in the value's length whatever the pattern, so no tenant's pattern can stall the workers
that serve every tenant. Features RE2 lacks (backreferences, lookaround) are refused when the
pattern is written, as are patterns longer than :data:`MAX_PATTERN_CHARS` or whose compiled
program would outgrow :data:`PATTERN_MAX_MEMORY`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Protocol

import re2
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

#: Names that select the alert's fields rather than its labels.
ALERT_TYPE = "alert_type"
FIELD_NAMES = frozenset({ALERT_TYPE, "alertname", "severity", "environment"})

_MATCHER_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_GLOB_CHARS = frozenset("*?[")

#: Longest regular expression a matcher may hold, in characters.
MAX_PATTERN_CHARS = 1000
#: Longest matcher (name, operator and value), in characters.
MAX_MATCHER_CHARS = MAX_PATTERN_CHARS + 200
#: Memory RE2 may use for one pattern (compiled program plus its DFA cache), in bytes. A
#: pattern whose program does not fit is refused; a DFA cache that fills up makes RE2 fall
#: back to its NFA, slower by a constant factor but still linear.
PATTERN_MAX_MEMORY = 1 << 20
#: Parsed matchers kept per process: silences are read from the database as text for every
#: alert routed, and compiling is the costly part.
PARSED_CACHE_SIZE = 4096


class CompiledPattern(Protocol):
    def fullmatch(self, text: str) -> object | None: ...


def _re2_options() -> Any:
    options = re2.Options()
    options.max_mem = PATTERN_MAX_MEMORY
    # A refused pattern is reported to whoever wrote it, not logged by RE2 on stderr.
    options.log_errors = False
    return options


_RE2_OPTIONS = _re2_options()


def compile_pattern(value: str) -> CompiledPattern:
    """RE2 for ``value``; ValueError says why a pattern is refused."""
    if len(value) > MAX_PATTERN_CHARS:
        raise ValueError(f"longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(value, _RE2_OPTIONS)  # type: ignore[no-any-return]
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", errors="replace")
        raise ValueError(str(reason)) from None


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    _pattern: CompiledPattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``'severity=critical'``, ``'team =~ "db|infra"'``; ValueError says what is wrong."""
        if len(text) > MAX_MATCHER_CHARS:
            raise ValueError(f"a matcher is at most {MAX_MATCHER_CHARS} characters long")
        found = _MATCHER_RE.match(text)
        if found is None:
            raise ValueError(
                f"{text!r} is not a matcher: write name=value, name!=value, name=~regex "
                "or name!~regex"
            )
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name == "alertname":
            name = ALERT_TYPE
        pattern = None
        if op in (Op.RE, Op.NRE):
            try:
                pattern = compile_pattern(value)
            except ValueError as exc:
                raise ValueError(
                    f"{text!r}: bad regular expression (RE2 syntax, as in Alertmanager): {exc}"
                ) from None
        return cls(name, Op(op), value, pattern)

    def matches(self, facts: Mapping[str, str]) -> bool:
        actual = facts.get(self.name, "")
        if self.op is Op.EQ:
            return self._equal(actual)
        if self.op is Op.NE:
            return not self._equal(actual)
        assert self._pattern is not None
        found = self._pattern.fullmatch(actual) is not None
        return found if self.op is Op.RE else not found

    def _equal(self, actual: str) -> bool:
        if self.name == ALERT_TYPE and _GLOB_CHARS.intersection(self.value):
            return fnmatch.fnmatchcase(actual, self.value)
        return actual == self.value

    def __str__(self) -> str:
        return f'{self.name}{self.op.value}"{self.value}"'


@lru_cache(maxsize=PARSED_CACHE_SIZE)
def parse_cached(text: str) -> Matcher:
    """:meth:`Matcher.parse`, remembered: matchers are immutable, so one parse serves all."""
    return Matcher.parse(text)


def alert_facts(
    *, alert_type: str, severity: str, environment: str | None, labels: Mapping[str, Any]
) -> dict[str, str]:
    """What matchers see of an alert: its labels, then its own fields (which labels of the
    same name cannot hide)."""
    facts = {str(k): str(v) for k, v in labels.items()}
    facts[ALERT_TYPE] = alert_type
    facts["severity"] = severity
    facts["environment"] = environment or ""
    return facts


def matches_all(matchers: Iterable[Matcher], facts: Mapping[str, str]) -> bool:
    return all(m.matches(facts) for m in matchers)


def _validate(value: Any) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        raise ValueError("a matcher is a string such as 'severity=critical'")
    return parse_cached(value)


#: A matcher in a pydantic model: written and stored as its string form.
MatcherField = Annotated[
    Matcher,
    PlainValidator(_validate),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ['severity="critical"', "team=~db|infra"]}),
]
