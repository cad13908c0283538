"""The tenant file's ``anomaly_detection`` block, and which series it watches."""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

#: The alert type the detector raises; its own series are never watched.
ANOMALY_ALERT_TYPE = "alert_rate_anomaly"
#: The alert type of the "risk rising" notes of incident prediction.
RISK_ALERT_TYPE = "incident_risk"


class Sensitivity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


#: Anomaly score from which a series is abnormal, by sensitivity.
SCORE_THRESHOLDS = {Sensitivity.LOW: 0.8, Sensitivity.MEDIUM: 0.5, Sensitivity.HIGH: 0.25}


class PredictionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: Risk of a critical alert within 15 minutes above which a "risk rising" note is posted.
    threshold: float = Field(default=0.5, gt=0, lt=1)


class AnomalyConfig(BaseModel):
    """Off unless the tenant turns it on: the beat task skips tenants with it off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    sensitivity: Sensitivity = Sensitivity.MEDIUM
    #: Series not to watch: ``<alert type>`` or ``<alert type>/<environment>``, globs allowed
    #: (``heartbeat``, ``*/staging``, ``disk_*``).
    ignore: list[str] = Field(default_factory=list)
    prediction: PredictionConfig = Field(default_factory=PredictionConfig)

    @property
    def score_threshold(self) -> float:
        return SCORE_THRESHOLDS[self.sensitivity]

    def watches(self, alert_type: str, environment: str) -> bool:
        if alert_type in (ANOMALY_ALERT_TYPE, RISK_ALERT_TYPE):
            return False
        name = f"{alert_type}/{environment}" if environment else alert_type
        for pattern in self.ignore:
            target = name if "/" in pattern else alert_type
            if fnmatchcase(target, pattern):
                return False
        return True


def series_name(alert_type: str, environment: str) -> str:
    return f"{alert_type}/{environment}" if environment else alert_type
