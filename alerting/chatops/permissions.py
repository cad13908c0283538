"""Who may act on alerts from Slack: the tenant file's ``chatops`` block.

```yaml
chatops:
  command: /alerts
  permissions:
    ack: {users: [U0ALICE], groups: [S0SRE]}
    resolve: {groups: [S0SRE]}
    silence: {users: [U0ALICE]}
    escalate: {groups: [S0LEADS]}
```

An action without an entry is open to everyone in the workspace; listing and showing always
are. ``groups`` are Slack user group ids (``S…``), resolved by the worker at the time of the
request (``usergroups.users.list``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

#: The default slash command; a tenant may name another (``chatops.command``).
DEFAULT_COMMAND = "/alerts"


class Permission(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"
    SILENCE = "silence"
    ESCALATE = "escalate"


class ActionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Slack user ids (``U…``/``W…``) allowed to act.
    users: list[str] = Field(default_factory=list, max_length=1000)
    #: Slack user group ids (``S…``) whose members are allowed to act.
    groups: list[str] = Field(default_factory=list, max_length=100)


class ChatopsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The slash command this tenant's workspace uses for alerts.
    command: str = Field(default=DEFAULT_COMMAND, pattern=r"^/[a-z0-9_\-]{1,31}$")
    permissions: dict[Permission, ActionRule] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: Why not, as the groups or users who may (for the refusal's wording).
    rule: ActionRule | None = None


def decide(
    config: ChatopsConfig,
    permission: Permission,
    user_id: str,
    member_of: Collection[str] = (),
) -> Decision:
    """Whether ``user_id`` (a member of the groups ``member_of``) may do ``permission``."""
    rule = config.permissions.get(permission)
    if rule is None:
        return Decision(True)
    if user_id in rule.users or any(group in member_of for group in rule.groups):
        return Decision(True, rule)
    return Decision(False, rule)
