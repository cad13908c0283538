"""Which tenant queues a worker consumes, and picking up tenants added while it runs."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, signals

from alerting.db.repositories import list_tenant_ids
from alerting.db.session import session_scope
from alerting.queues import INGEST_QUEUE, MAINTENANCE_QUEUE, tenant_queues
from alerting.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolSpec:
    """``only``: serve just these tenants (a dedicated pool); else all but ``exclude``."""

    only: frozenset[str] = field(default_factory=frozenset)
    exclude: frozenset[str] = field(default_factory=frozenset)

    @property
    def shared(self) -> bool:
        return not self.only

    def wants(self, tenant_id: str) -> bool:
        if self.only:
            return tenant_id in self.only
        return tenant_id not in self.exclude

    def queues(self, known_tenants: list[str]) -> list[str]:
        base = [INGEST_QUEUE, MAINTENANCE_QUEUE] if self.shared else []
        tenants = sorted(self.only) if self.only else [t for t in known_tenants if self.wants(t)]
        # Each tenant's urgent lane with its normal queue (workers/lanes.py orders them).
        return base + [q for t in tenants for q in tenant_queues(t)]


def known_tenants() -> list[str]:
    with session_scope() as session:
        return list_tenant_ids(session)


def follow_new_tenants(app: Celery, spec: PoolSpec, served: set[str]) -> None:
    """Start a thread that subscribes this worker to tenants synced after it started."""

    @signals.worker_ready.connect(weak=False)
    def _start(sender: Any = None, **_: Any) -> None:
        hostname = getattr(sender, "hostname", None)
        if hostname is None:
            return
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(get_settings().tenant_poll_seconds):
                try:
                    tenants = known_tenants()
                except Exception:  # the database may be restarting; try again next round
                    log.warning("could not list tenants; will retry", exc_info=True)
                    continue
                for tenant_id in tenants:
                    if tenant_id not in served and spec.wants(tenant_id):
                        for queue in tenant_queues(tenant_id):
                            app.control.add_consumer(queue, destination=[hostname])
                        served.add(tenant_id)
                        log.info("now serving new tenant %s", tenant_id)

        threading.Thread(target=poll, name="tenant-queues", daemon=True).start()

        @signals.worker_shutdown.connect(weak=False)
        def _stop(**_: Any) -> None:
            stop.set()
