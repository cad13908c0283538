"""``/ui/figures``: a tenant's figures, as numbers and as plots (SVG drawn here, inline, so
the page needs no script and no third-party code): alerts per hour, time to acknowledge,
time to resolve, Slack messages per alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy import func, select

from alerting.db.models import Alert, SlackMessage
from alerting.db.session import session_scope
from alerting.web.ui import Read, _page, _tenant

router = APIRouter()
#: How far back the figures look.
HOURS = 24
DAYS = 7
#: Buckets of the time-to histograms, in minutes (the last is open-ended).
MINUTE_BUCKETS = (1, 5, 15, 30, 60, 240)


def bar_chart(values: list[tuple[str, float]], *, title: str, width: int = 560) -> Markup:
    """A bar chart as an SVG element: one bar per (label, value), labels under the bars."""
    height, top, bottom = 180, 20, 30
    biggest = max((v for _, v in values), default=0) or 1
    # Side margins keep the first and last labels inside the picture.
    margin = 16
    step = (width - 2 * margin) / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(values):
        bar = (height - top - bottom) * value / biggest
        x = margin + i * step + 2
        y = height - bottom - bar
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 4, 1):.1f}" height="{bar:.1f}" '
            f'fill="#4a154b"><title>{escape(label)}: {value:g}</title></rect>'
        )
        if value:
            parts.append(
                f'<text x="{x + step / 2 - 2:.1f}" y="{y - 3:.1f}" font-size="10" '
                f'text-anchor="middle">{value:g}</text>'
            )
        if len(values) <= 12 or i % 3 == 0:
            parts.append(
                f'<text x="{x + step / 2 - 2:.1f}" y="{height - bottom + 14}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _minutes_histogram(minutes: list[float]) -> list[tuple[str, float]]:
    counts = [0] * (len(MINUTE_BUCKETS) + 1)
    for value in minutes:
        index = next((i for i, b in enumerate(MINUTE_BUCKETS) if value <= b), len(MINUTE_BUCKETS))
        counts[index] += 1
    labels = [f"≤{b}m" for b in MINUTE_BUCKETS] + [f">{MINUTE_BUCKETS[-1]}m"]
    return list(zip(labels, [float(c) for c in counts], strict=True))


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def tenant_figures(tenant_id: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    since_hours = (now - timedelta(hours=HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    since_days = now - timedelta(days=DAYS)
    with session_scope() as session:
        hour = func.date_trunc("hour", Alert.first_seen_at)
        per_hour: dict[datetime, int] = dict(
            session.execute(
                select(hour, func.count())
                .where(Alert.tenant_id == tenant_id, Alert.first_seen_at >= since_hours)
                .group_by(hour)
            ).all()
        )
        timings = session.execute(
            select(Alert.first_seen_at, Alert.acknowledged_at, Alert.resolved_at).where(
                Alert.tenant_id == tenant_id, Alert.first_seen_at >= since_days
            )
        ).all()
        told = session.execute(
            select(func.count())
            .select_from(SlackMessage)
            .join(Alert, Alert.id == SlackMessage.alert_id)
            .where(SlackMessage.tenant_id == tenant_id, Alert.first_seen_at >= since_days)
            .group_by(SlackMessage.alert_id)
        ).scalars()
        messages = list(told)
    hours = [since_hours + timedelta(hours=i) for i in range(HOURS)]
    alerts_per_hour = [(h.strftime("%H:00"), float(per_hour.get(h, 0))) for h in hours]
    to_ack = [(a - f).total_seconds() / 60 for f, a, _ in timings if a is not None]
    to_resolve = [(r - f).total_seconds() / 60 for f, _, r in timings if r is not None]
    per_alert: dict[int, int] = {}
    for count in messages:
        per_alert[min(count, 10)] = per_alert.get(min(count, 10), 0) + 1
    return {
        "alerts_last_day": int(sum(v for _, v in alerts_per_hour)),
        "alerts_per_hour": bar_chart(alerts_per_hour, title="Alerts per hour"),
        "acknowledged": len(to_ack),
        "median_to_ack": _median(to_ack),
        "to_ack": bar_chart(_minutes_histogram(to_ack), title="Time to acknowledge"),
        "resolved": len(to_resolve),
        "median_to_resolve": _median(to_resolve),
        "to_resolve": bar_chart(_minutes_histogram(to_resolve), title="Time to resolve"),
        "messages_mean": (sum(messages) / len(messages)) if messages else None,
        "messages_per_alert": bar_chart(
            [(f"{n}" if n < 10 else "10+", float(per_alert.get(n, 0))) for n in range(1, 11)],
            title="Slack messages per alert",
        ),
    }


@router.get("/ui/figures", response_class=HTMLResponse)
def figures_page(
    ui: Read, tenant: Annotated[str | None, Query(max_length=63)] = None
) -> HTMLResponse:
    tenant_id = _tenant(ui, tenant)
    return _page(
        "figures.html",
        ui=ui,
        tenant=tenant_id,
        hours=HOURS,
        days=DAYS,
        figures=tenant_figures(tenant_id),
    )
