"""What can go wrong calling an outside system, as a small tree with one base class.

The outbox retries :class:`TransientError` (and its :class:`RateLimited`) with backoff and
gives up at once on :class:`PermanentError`: a request the other side refuses as written will
be refused again.
"""

from __future__ import annotations

import httpx

from alerting.domain.errors import AlertingError


class IntegrationError(AlertingError):
    def __init__(self, reason: str, *, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


class TransientError(IntegrationError):
    """5xx, timeout, connection refused: worth another try later."""


class RateLimited(TransientError):
    def __init__(self, reason: str, *, status: int | None = 429, retry_after: float | None) -> None:
        super().__init__(reason, status=status)
        #: Seconds the other side asked us to wait (``Retry-After``), when it said.
        self.retry_after = retry_after


class PermanentError(IntegrationError):
    """4xx other than 429: the request itself is wrong (bad key, invalid event, no access)."""


#: Longest part of an answer's body kept in a reason (it ends up in ``last_error``).
MAX_REASON_CHARS = 300


def retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def check_response(response: httpx.Response, what: str) -> None:
    """Raise the error an unsuccessful answer means; return quietly on 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response.text[:MAX_REASON_CHARS]
    reason = f"{what}: HTTP {status}: {body}".strip()
    if status == 429:
        raise RateLimited(reason, retry_after=retry_after(response))
    if status >= 500 or status == 408:
        raise TransientError(reason, status=status)
    raise PermanentError(reason, status=status)


def request_failed(exc: httpx.HTTPError, what: str) -> TransientError:
    """A request that got no answer: the other side may or may not have acted on it."""
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
    return TransientError(f"{what}: {kind}: {type(exc).__name__}")
