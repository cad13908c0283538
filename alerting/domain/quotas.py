"""Per-tenant quotas: what one tenant may own and send, so that it cannot starve the others.

Set in the tenant file's ``quotas:`` block; every key is optional and defaults to the value
below. Counts (silences, inhibition rules, routes) are checked where the thing is created or
the tenant file is read; the body size and the event rate are checked at the HTTP edge.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from alerting.domain.routing import Route

#: Active and pending silences a tenant may have at once.
DEFAULT_SILENCES = 1000
#: Inhibition rules in a tenant file.
DEFAULT_INHIBIT_RULES = 100
#: Routes in a tenant's routing tree, nested ones included (the root not counted).
DEFAULT_ROUTES = 200
#: Events per second a tenant may post over HTTP (``POST /api/v1/alerts`` and the
#: Alertmanager receiver together), sustained.
DEFAULT_EVENTS_PER_SECOND = 100.0
#: Events a tenant may post at once above that rate (a burst, one large Alertmanager group).
DEFAULT_EVENTS_BURST = 1000


class Quotas(BaseModel):
    """The ``quotas:`` block of a tenant file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    silences: int = Field(default=DEFAULT_SILENCES, ge=0)
    inhibit_rules: int = Field(default=DEFAULT_INHIBIT_RULES, ge=0)
    routes: int = Field(default=DEFAULT_ROUTES, ge=0)
    #: Largest HTTP request body of this tenant, in bytes. Unset: ``ALERTING_MAX_BODY_BYTES``,
    #: which also caps it (every request is read up to that size before its key is known).
    max_body_bytes: int | None = Field(default=None, gt=0)
    events_per_second: float = Field(default=DEFAULT_EVENTS_PER_SECOND, gt=0)
    events_burst: int = Field(default=DEFAULT_EVENTS_BURST, gt=0)


def count_routes(route: Route | None) -> int:
    """Routes below ``route`` (the root itself is not counted)."""
    if route is None:
        return 0
    return sum(1 + count_routes(child) for child in route.routes)
