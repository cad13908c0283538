"""Validation errors raised at the edges (producer call, HTTP, CLI, config files)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

#: A whole-object check names the key it refuses at the start of its message (``a.b.c: …``).
_KEY_PATH_REASON = re.compile(r"^([A-Za-z_][\w-]*(?:\.[\w-]+)+): (.+)$", re.DOTALL)


#: Characters shown escaped in error messages: controls, lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates written as escapes."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


class AlertingError(Exception):
    """Base class of the project's own errors."""


class InvalidInput(AlertingError, ValueError):
    """Input refused at an edge; ``problems`` lists ``(field path, reason)`` pairs."""

    def __init__(self, where: str, problems: Iterable[tuple[str, str]]) -> None:
        self.where = printable(where)
        # Paths and reasons may quote what was refused: shown escaped, so that the refusal
        # itself can always be encoded (JSON, logs, a terminal).
        self.problems = [(printable(field), printable(reason)) for field, reason in problems]
        lines = "; ".join(f"{field}: {reason}" for field, reason in self.problems)
        super().__init__(f"{self.where}: {lines}")

    @classmethod
    def from_pydantic(cls, where: str, exc: ValidationError) -> InvalidInput:
        return cls(where, pydantic_problems(exc))


class HasErrors(Protocol):
    """A pydantic ``ValidationError``, or a web framework's wrapper of its errors."""

    def errors(self) -> Sequence[Any]: ...


def pydantic_problems(exc: HasErrors) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(input)"
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown field"
        elif reason.startswith("Value error, "):
            reason = reason.removeprefix("Value error, ")
            named = _KEY_PATH_REASON.match(reason)
            if named:
                inner, reason = named.groups()
                path = inner if path == "(input)" else f"{path}.{inner}"
        problems.append((path, reason))
    return problems


class UnknownTenant(AlertingError, LookupError):
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant_id: unknown tenant {tenant_id!r}")
