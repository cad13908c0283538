from __future__ import annotations

from alerting.db.session import session_scope
from alerting.metrics import DIGESTS
from alerting.pipeline.flapping import release_stable
from alerting.pipeline.grouping import flush_due_groups
from alerting.pipeline.route import settled_channels
from alerting.producer import enqueue_deliver
from alerting.queues import GROUP_FLUSH_TASK
from alerting.secrets import SecretBox
from alerting.settings import get_settings
from workers.app import INFRASTRUCTURE_RETRY, app


@app.task(name=GROUP_FLUSH_TASK, **INFRASTRUCTURE_RETRY)
def group_flush() -> int:
    """Write the digests that are due, and tell flapping alerts that settled; deliveries go
    out after commit."""
    with session_scope() as session:
        result = flush_due_groups(session)
    for tenant_id in result.digests:
        DIGESTS.labels(tenant=tenant_id).inc()
    for tenant_id, notification_id in result.notifications:
        enqueue_deliver(
            tenant_id, notification_id, app=app, urgent=notification_id in result.urgent
        )
    # Flapping alerts that have been quiet long enough: their settled state, once.
    box = SecretBox.from_settings(get_settings())
    with session_scope() as session:
        settled = release_stable(session, lambda s, alert: settled_channels(s, alert, box))
    for tenant_id, notification_id in settled:
        enqueue_deliver(tenant_id, notification_id, app=app)
    return len(result.digests)
