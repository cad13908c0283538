"""The project's Celery app with some suggested changes emulated, for :mod:`bench.whatif`.

``BENCH_WHATIF`` (comma separated) picks the changes; each is a monkeypatch applied at import,
before the pool forks, so it holds in every pool process. Nothing here is meant for
production: it only measures what a change to ``alerting/`` or ``workers/`` would buy.

* ``events_off``   — no task events (``worker_send_task_events``, ``task_send_sent_event``);
* ``no_preping``   — engines without ``pool_pre_ping`` (one round trip less per transaction);
* ``tenant_cache`` — tenants cached per process for a few seconds (``tenant_exists`` in
  ingest, ``load_tenant`` in route and deliver: one SELECT less each).
"""

from __future__ import annotations

import os
import time
from typing import Any

from workers.app import app

__all__ = ["CHANGES", "app"]

CHANGES = frozenset(c.strip() for c in os.environ.get("BENCH_WHATIF", "").split(",") if c.strip())
KNOWN = frozenset({"events_off", "no_preping", "tenant_cache"})
#: Seconds a cached tenant is trusted; tenant changes are rare and synced by an operator.
TENANT_TTL = 10.0

if CHANGES - KNOWN:
    raise SystemExit(f"BENCH_WHATIF: unknown changes {sorted(CHANGES - KNOWN)}")

if "events_off" in CHANGES:
    app.conf.worker_send_task_events = False
    app.conf.task_send_sent_event = False

if "no_preping" in CHANGES:
    import sqlalchemy

    import alerting.db.session as db_session

    def _create_engine(url: Any, **options: Any) -> sqlalchemy.Engine:
        options["pool_pre_ping"] = False
        return sqlalchemy.create_engine(url, **options)

    db_session.create_engine = _create_engine  # type: ignore[attr-defined]

if "tenant_cache" in CHANGES:
    import alerting.pipeline.deliver as deliver_module
    import alerting.pipeline.ingest as ingest_module
    import alerting.pipeline.route as route_module
    from alerting.db import repositories

    _records: dict[str, tuple[float, repositories.TenantRecord]] = {}
    _known: dict[str, float] = {}

    def _load_tenant(session: Any, tenant_id: str, box: Any) -> repositories.TenantRecord:
        hit = _records.get(tenant_id)
        if hit is not None and time.monotonic() - hit[0] < TENANT_TTL:
            return hit[1]
        record = repositories.load_tenant(session, tenant_id, box)
        _records[tenant_id] = (time.monotonic(), record)
        return record

    def _tenant_exists(session: Any, tenant_id: str) -> bool:
        seen = _known.get(tenant_id)
        if seen is not None and time.monotonic() - seen < TENANT_TTL:
            return True
        exists = repositories.tenant_exists(session, tenant_id)
        if exists:
            _known[tenant_id] = time.monotonic()
        return exists

    route_module.load_tenant = _load_tenant  # type: ignore[attr-defined]
    deliver_module.load_tenant = _load_tenant  # type: ignore[attr-defined]
    ingest_module.tenant_exists = _tenant_exists  # type: ignore[attr-defined]
