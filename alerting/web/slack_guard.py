"""The checks a request from Slack passes before anything parses it.

Bolt parses the body (form, JSON) before it verifies the signature, and a hostile body can
make that parsing fail (bad UTF-8, a huge number, JSON nested too deep). So each request is
checked here first, in an order where nothing can raise: header shapes, size, UTF-8, the
signature from the raw bytes (Slack's five-minute window), replays, then the form and the
JSON's depth. Only a request that passes all of this reaches Bolt.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from slack_sdk.signature import SignatureVerifier

from alerting.breaker import redis_client
from alerting.settings import Settings

#: Largest request body read from Slack, in bytes (a modal submission is a few KB; a larger
#: body is refused before its signature is even computed).
MAX_BODY_BYTES = 1024 * 1024
#: Deepest JSON nesting accepted in an interaction payload (Slack's are under 10).
MAX_JSON_DEPTH = 32
#: Most form fields in one request (Slack sends about 12).
MAX_FORM_FIELDS = 50
#: How long a request's signature and body are remembered to refuse replays and absorb
#: Slack's retries, in seconds (older requests fail the five-minute timestamp check anyway).
REPLAY_WINDOW_SECONDS = 600
REPLAY_KEY_PREFIX = "alerting:slack-interaction:"
RETRY_KEY_PREFIX = "alerting:slack-body:"
_TIMESTAMP_RE = re.compile(r"\d{1,12}")
_SIGNATURE_RE = re.compile(r"v0=[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Admitted:
    body: bytes
    form: dict[str, list[str]]
    #: The interaction payload (``payload=`` field), for interactions.
    payload: dict[str, Any] | None
    #: True when this body was already taken (Slack retrying): answer, do nothing again.
    duplicate: bool


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON text, in one pass, without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


async def admit(request: Request, *, replay_status: int, interaction: bool) -> Admitted:
    """The request's body and form once it is proven to come from Slack, or an HTTPException:
    400 malformed, 401 unsigned/forged/stale (or replayed, for commands), 409 replayed
    (interactions), 413 too large, 503 no signing secret."""
    settings: Settings = request.app.state.settings
    if settings.slack_signing_secret is None:
        raise HTTPException(503, "SLACK_SIGNING_SECRET is not set: requests from Slack are off")
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise HTTPException(401, "X-Slack-Signature: the request is not signed")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise HTTPException(400, "X-Slack-Request-Timestamp: not a Unix time in seconds")
    if not _SIGNATURE_RE.fullmatch(signature):
        raise HTTPException(401, "X-Slack-Signature: not a v0 signature")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "body: not UTF-8") from None
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
        raise HTTPException(401, "X-Slack-Signature: invalid or outside the five-minute window")
    redis = redis_client(settings.require_redis_url())
    replay_key = REPLAY_KEY_PREFIX + hashlib.sha256(signature.encode()).hexdigest()
    if not redis.set(replay_key, 1, nx=True, ex=REPLAY_WINDOW_SECONDS):
        raise HTTPException(replay_status, "this request was already received")
    try:
        form = parse_qs(text, strict_parsing=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise HTTPException(400, "body: not a form") from None
    payload = None
    if interaction:
        payload = _payload(form)
    # Slack retries (X-Slack-Retry-Num) re-sign the same body: the first one does the work.
    body_key = RETRY_KEY_PREFIX + hashlib.sha256(body).hexdigest()
    duplicate = not redis.set(body_key, 1, nx=True, ex=REPLAY_WINDOW_SECONDS)
    return Admitted(body, form, payload, duplicate)


def _payload(form: dict[str, list[str]]) -> dict[str, Any]:
    values = form.get("payload")
    if not values or len(values) != 1:
        raise HTTPException(400, "payload: expected one payload field")
    if json_depth(values[0]) > MAX_JSON_DEPTH:
        raise HTTPException(400, f"payload: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        payload = json.loads(values[0])
    except ValueError:
        raise HTTPException(400, "payload: not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "payload: not a JSON object")
    return payload
