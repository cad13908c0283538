"""The Grafana dashboard in config/grafana/ queries only metrics the service exports."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from tests.services import ROOT

DASHBOARD = ROOT / "config" / "grafana" / "slack-alerting.json"
#: Suffixes Prometheus adds to a histogram's (or summary's) family name.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def _queried() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    return {name for e in exprs for name in re.findall(r"\balerting_[a-z_]+", e)}


def _exported(text: str) -> set[str]:
    return {m for m in re.findall(r"^# (?:HELP|TYPE) (\S+)", text, flags=re.M)}


def _missing(queried: set[str], exported: set[str]) -> set[str]:
    def known(name: str) -> bool:
        bases = [name] + [name.removesuffix(s) for s in SERIES_SUFFIXES if name.endswith(s)]
        return any(b in exported for b in bases)

    return {name for name in queried if not known(name)}


def test_every_metric_the_dashboard_queries_is_exported(web: TestClient) -> None:
    queried = _queried()
    assert len(queried) >= 10, queried
    text = web.get("/metrics").text
    exported = _exported(text)
    assert _missing(queried, exported) == set()
    # The check does catch a name the service does not export.
    assert _missing({"alerting_no_such_metric_total"}, exported) == {
        "alerting_no_such_metric_total"
    }
