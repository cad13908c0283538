"""Flapping: an alert that fires and resolves again and again.

Each firing after a resolution is a new alert with the same fingerprint, so "fires in the
window" is a count of a fingerprint's alerts first seen in it. Past ``fires`` of them within
``window`` the fingerprint is flapping: that firing is still posted, marked as flapping, and its
later changes (resolutions, firings) are held until nothing has changed for ``stable_for``;
then one message tells the state it settled in and how many changes were held.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from alerting.domain.durations import Duration


class FlappingConfig(BaseModel):
    """The tenant file's ``flapping`` block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: Firings of one fingerprint within ``window`` that are still normal; one more is flapping.
    fires: int = Field(default=4, ge=1, le=1000)
    window: Duration = 600.0
    #: Quiet time (no firing, no resolution) after which a flapping alert is stable again.
    stable_for: Duration = 300.0
