"""Validation errors raised at the edges (producer call, HTTP, CLI, config files)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import ValidationError

#: A whole-object check names the key it refuses at the start of its message (``a.b.c: …``).
_KEY_PATH_REASON = re.compile(r"^([A-Za-z_][\w-]*(?:\.[\w-]+)+): (.+)$", re.DOTALL)


class AlertingError(Exception):
    """Base class of the project's own errors."""


class InvalidInput(AlertingError, ValueError):
    """Input refused at an edge; ``problems`` lists ``(field path, reason)`` pairs."""

    def __init__(self, where: str, problems: Iterable[tuple[str, str]]) -> None:
        self.where = where
        self.problems = list(problems)
        lines = "; ".join(f"{field}: {reason}" for field, reason in self.problems)
        super().__init__(f"{where}: {lines}")

    @classmethod
    def from_pydantic(cls, where: str, exc: ValidationError) -> InvalidInput:
        return cls(where, pydantic_problems(exc))


def pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
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
