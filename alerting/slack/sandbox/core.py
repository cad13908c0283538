"""The sandbox's state, Block Kit validation, the webhook and Web API emulation, and the
control API under ``/sandbox/``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from alerting.integrations import standins

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
Via = Literal["webhook", "api"]
ChannelState = Literal["missing", "archived", "not_in_channel", "ok"]

#: Most blocks Slack accepts in one message (and in one attachment).
MAX_BLOCKS = 50
#: Longest header block text, in characters.
MAX_HEADER_TEXT = 150
#: Longest section block text, in characters.
MAX_SECTION_TEXT = 3000
#: Most fields in one section block.
MAX_SECTION_FIELDS = 10
#: Longest text of one section field, in characters.
MAX_SECTION_FIELD_TEXT = 2000
#: Longest top-level message ``text``, in characters.
MAX_MESSAGE_TEXT = 40_000
#: Most attachments in one message.
MAX_ATTACHMENTS = 100
#: Channel a webhook posts to when its payload names none (where it was "installed").
DEFAULT_WEBHOOK_CHANNEL = "#general"
#: Messages conversations.history returns when no ``limit`` is given.
DEFAULT_HISTORY_LIMIT = 100
#: Largest ``limit`` conversations.history honours, in messages.
MAX_HISTORY_LIMIT = 999
#: Width of the sliding window behind ``max_rate_per_channel``, in nanoseconds (1 s).
RATE_WINDOW_NS = 1_000_000_000
#: Entries kept in the request log; older ones are dropped so a long bench cannot exhaust memory.
MAX_REQUEST_LOG = 100_000
#: How often the HTML page reloads itself, in seconds.
PAGE_REFRESH_SECONDS = 2
#: Status logged for a request whose client hung up while held (nginx's convention).
CLIENT_CLOSED_STATUS = 499
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8025
TEAM_ID = "T0SANDBOX"
BOT_USER_ID = "U0SANDBOX"
BOT_ID = "B0SANDBOX"

# Strings that look like a Slack conversation ID rather than a channel name.
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")
_HEX_COLOUR = re.compile(r"#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_NAMED_COLOURS = {"good": "#2eb67d", "warning": "#ecb22e", "danger": "#e01e5a"}
_DEFAULT_COLOUR = "#dddddd"
_FAULT_BODIES = {
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
# Neutral refusal codes -> (status, body) for webhooks; anything unlisted is invalid_payload,
# because that is all Slack tells a webhook caller about malformed content.
_WEBHOOK_ERRORS: dict[str, tuple[int, str]] = {
    "no_text": (400, "no_text"),
    "channel_not_found": (404, "channel_not_found"),
    "archived": (410, "channel_is_archived"),
    # Webhooks are bound to their channel at install time, so Slack has no not_in_channel
    # for them; refusing the post is the closest equivalent.
    "not_in_channel": (403, "action_prohibited"),
    "thread_not_found": (404, "thread_not_found"),
    "no_service": (404, "no_service"),
}
#: HTTP status of a webhook answering an injected Slack error string (Slack's own pairs).
_WEBHOOK_FAULT_STATUS: dict[str, int] = {
    "invalid_payload": 400,
    "no_text": 400,
    "action_prohibited": 403,
    "channel_not_found": 404,
    "no_service": 404,
    "channel_is_archived": 410,
}
# Neutral refusal codes that the Web API spells differently.
_API_ERRORS = {"archived": "is_archived"}
_TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})
_PARSE_ERRORS = (
    SlackObjectFormationError,
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
    IndexError,
)


def channel_id_for(name: str) -> str:
    """Slack-style ID for channel ``name``; a pure function so every sandbox agrees on it."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8].upper()
    return f"C{digest}"


@dataclass
class Message:
    """One message as Slack would store it, plus what the sandbox knows about its delivery."""

    channel: str
    channel_id: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[JSON]
    attachments: list[JSON]
    metadata: JSON | None
    via: Via
    received_at: float
    webhook_path: str | None
    reply_broadcast: bool = False
    edits: int = 0
    edited_ts: str | None = None
    history: list[JSON] = field(default_factory=list)

    @property
    def is_top_level(self) -> bool:
        return self.thread_ts is None or self.reply_broadcast

    def to_json(self) -> JSON:
        return {
            "channel": self.channel,
            "channel_id": self.channel_id,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "text": self.text,
            "blocks": self.blocks,
            "attachments": self.attachments,
            "metadata": self.metadata,
            "via": self.via,
            "edits": self.edits,
            "history": self.history,
            "received_at": self.received_at,
            "webhook_path": self.webhook_path,
            "reply_broadcast": self.reply_broadcast,
        }

    def slack_json(self, *, reply_count: int = 0, include_metadata: bool = True) -> JSON:
        """The message in the shape Slack's Web API returns it."""
        out: JSON = {
            "type": "message",
            "text": self.text,
            "ts": self.ts,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
        }
        if self.via == "webhook":
            out["subtype"] = "bot_message"
        if self.blocks:
            out["blocks"] = self.blocks
        if self.attachments:
            out["attachments"] = self.attachments
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
            if self.reply_broadcast:
                out["subtype"] = "thread_broadcast"
        elif reply_count:
            out["thread_ts"] = self.ts
            out["reply_count"] = reply_count
        if self.edited_ts is not None:
            out["edited"] = {"user": BOT_USER_ID, "ts": self.edited_ts}
        if include_metadata and self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass
class RequestRecord:
    """One request to the Slack surface, whatever it was answered (or never answered)."""

    id: int
    endpoint: str
    channel: str | None
    webhook_path: str | None
    received_at: float
    answered_at: float
    status: int | None
    outcome: str
    fault: bool = False
    held_seconds: float = 0.0
    retry_after: int | None = None
    ts: str | None = None

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "channel": self.channel,
            "webhook_path": self.webhook_path,
            "received_at": self.received_at,
            "answered_at": self.answered_at,
            "status": self.status,
            "outcome": self.outcome,
            "fault": self.fault,
            "held_seconds": self.held_seconds,
            "retry_after": self.retry_after,
            "ts": self.ts,
        }


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int
    #: A Slack error string to answer with instead of a bare HTTP status.
    error: str | None = None


@dataclass(frozen=True)
class _Content:
    text: str
    blocks: list[JSON]
    attachments: list[JSON]
    metadata: JSON | None
    thread_ts: str | None
    reply_broadcast: bool


@dataclass(frozen=True)
class _Outcome:
    kind: Literal["ok", "refused", "fault", "rate_limited", "abandoned"]
    #: Neutral refusal code (see ``_WEBHOOK_ERRORS`` / ``_API_ERRORS``) when refused.
    error: str = ""
    detail: str = ""
    #: HTTP status to send, for faults.
    status: int = 200
    #: Seconds for the ``Retry-After`` header, when there is one.
    retry_after: int | None = None
    message: Message | None = None
    held_seconds: float = 0.0


class _Refusal(Exception):
    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.error = error
        self.detail = detail


class SandboxState:
    """Everything one sandbox remembers. Mutate only while holding :meth:`lock`."""

    def __init__(
        self,
        *,
        rate_limit: bool,
        burst: int,
        per_second: float,
        valid_tokens: frozenset[str] | None,
        app_url: str | None = None,
        signing_secret: str | None = None,
    ) -> None:
        #: Where clicks, commands and modal submissions go (the app's base URL), signed
        #: with ``signing_secret`` as Slack signs them.
        self.app_url = app_url
        self.signing_secret = signing_secret
        #: Who clicks and types on the page: the team picks the tenant in the app.
        self.team_id = TEAM_ID
        self.user_id = "U0DEVELOPER"
        self.user_name = "developer"
        #: User groups (``usergroups.users.list``): group id → member user ids.
        self.usergroups: dict[str, list[str]] = {}
        self.rate_limit = rate_limit
        self.burst = burst
        self.per_second = per_second
        self.valid_tokens = valid_tokens
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        # IDs are a pure function of the name, so this directory survives reset: forgetting
        # it would only make IDs handed out earlier unresolvable.
        self._names_by_id: dict[str, str] = {}
        self._last_ts_us = 0
        self._request_ids = 0
        self.reset()

    def reset(self) -> None:
        #: What only the person on the page sees: answers to commands and clicks.
        self.ephemerals: list[JSON] = []
        #: Modals the app opened (``views.open``), by view id; the last one is on screen.
        self.views: dict[str, JSON] = {}
        #: ``response_url`` tokens handed out → the channel their answers show in.
        self.responders: dict[str, str] = {}
        self.messages: list[Message] = []
        self._by_ts: dict[tuple[str, str], Message] = {}
        self._reply_counts: Counter[tuple[str, str]] = Counter()
        self.requests: deque[RequestRecord] = deque(maxlen=MAX_REQUEST_LOG)
        # Per channel theoretical arrival time of the next message, monotonic ns (see
        # _take_token).
        self._buckets: dict[str, int] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._holds: dict[str, deque[float]] = {}
        self.channel_states: dict[str, ChannelState] = {}
        self.revoked_webhooks: set[str] = set()
        self.rate_limited: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        #: Requests being held right now (a test waits for one before killing its client).
        self.holding: Counter[str] = Counter()
        #: Per channel, delays applied after recording a post and before answering it.
        self.late_answers: dict[str, deque[float]] = {}
        self._recent_accepts: dict[str, deque[int]] = {}
        self.max_rate: dict[str, int] = {}

    def lock(self) -> asyncio.Lock:
        # TestClient may run each request on a fresh event loop and an asyncio.Lock is bound
        # to the loop it first waits on, so keep one lock per running loop.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    def configure(
        self,
        *,
        rate_limit: bool | None = None,
        burst: int | None = None,
        per_second: float | None = None,
    ) -> None:
        if rate_limit is not None:
            self.rate_limit = rate_limit
        if burst is not None:
            self.burst = burst
        if per_second is not None:
            self.per_second = per_second
        # Buckets filled under the old settings would let the first messages after the change
        # follow the old limits.
        self._buckets.clear()

    def config_json(self) -> JSON:
        return {"rate_limit": self.rate_limit, "burst": self.burst, "per_second": self.per_second}

    # --- naming ---

    def resolve_channel(self, raw: str) -> str | None:
        """Channel name for a name (with or without ``#``) or an issued ID; None if unknown ID."""
        raw = raw.strip()
        if not raw:
            return None
        known = self._names_by_id.get(raw)
        if known is not None:
            return known
        if raw.startswith(("#", "@")):
            name = raw
        elif _CHANNEL_ID.fullmatch(raw):
            return None
        else:
            name = f"#{raw}"
        if len(name) < 2:
            return None
        self._names_by_id.setdefault(channel_id_for(name), name)
        return name

    def next_ts(self) -> str:
        # Integer microseconds so two messages in the same microsecond still get distinct,
        # increasing ts values.
        now_us = max(time.time_ns() // 1000, self._last_ts_us + 1)
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    # --- faults ---

    def add_faults(
        self, channel: str, statuses: Sequence[int], retry_after: int, errors: Sequence[str] = ()
    ) -> None:
        queue = self._faults.setdefault(channel, deque())
        queue.extend(_Fault(status, retry_after) for status in statuses)
        queue.extend(_Fault(200, retry_after, error) for error in errors)

    def add_holds(self, channel: str, seconds: float, count: int) -> None:
        self._holds.setdefault(channel, deque()).extend([seconds] * count)

    def pop_hold(self, channel: str) -> float | None:
        queue = self._holds.get(channel)
        return queue.popleft() if queue else None

    def _pop_fault(self, channel: str) -> _Fault | None:
        queue = self._faults.get(channel)
        return queue.popleft() if queue else None

    # --- rate limiting ---

    def _take_token(self, channel: str, now_ns: int) -> int | None:
        """Spend a token; None when allowed, else the seconds to put in ``Retry-After``.

        A token bucket kept as GCRA (one "theoretical arrival time" per channel) in integer
        nanoseconds: same behaviour as refilling ``per_second`` tokens up to ``burst``, but
        without float drift, so ``max_rate_per_channel`` never reads 2 at exactly 1 msg/s.
        """
        interval = max(1, round(1_000_000_000 / self.per_second))
        tolerance = (self.burst - 1) * interval
        tat = max(self._buckets.get(channel, now_ns), now_ns)
        if tat - now_ns > tolerance:
            wait_ns = tat - tolerance - now_ns
            return max(1, math.ceil(wait_ns / 1_000_000_000))
        self._buckets[channel] = tat + interval
        return None

    def _note_accept(self, channel: str, now_ns: int) -> None:
        recent = self._recent_accepts.setdefault(channel, deque())
        recent.append(now_ns)
        while recent[0] <= now_ns - RATE_WINDOW_NS:
            recent.popleft()
        self.max_rate[channel] = max(self.max_rate.get(channel, 0), len(recent))

    # --- posting ---

    def process_post(
        self,
        channel: str,
        raw: Mapping[str, Any],
        *,
        via: Via,
        webhook_path: str | None,
    ) -> _Outcome:
        """Everything after the (optional) hold: faults, channel state, content, rate, record."""
        fault = self._pop_fault(channel)
        if fault is not None:
            if fault.error is not None:
                return _Outcome("fault", error=fault.error, status=fault.status)
            if fault.status == 429:
                self.rate_limited[channel] += 1
                return _Outcome("fault", status=429, retry_after=fault.retry_after)
            return _Outcome("fault", status=fault.status)
        refusal = self._channel_refusal(channel)
        if refusal is not None:
            return refusal
        try:
            content = _parse_content(raw, via=via)
        except _Refusal as refused:
            return _Outcome("refused", error=refused.error, detail=refused.detail)
        thread_ts: str | None = None
        if content.thread_ts is not None:
            parent = self._by_ts.get((channel, content.thread_ts))
            if parent is None:
                return _Outcome("refused", error="thread_not_found")
            # Replying to a reply lands in the same thread, as in Slack.
            thread_ts = parent.thread_ts or parent.ts
        now_ns = time.monotonic_ns()
        if self.rate_limit:
            retry_after = self._take_token(channel, now_ns)
            if retry_after is not None:
                self.rate_limited[channel] += 1
                return _Outcome("rate_limited", retry_after=retry_after)
        message = Message(
            channel=channel,
            channel_id=channel_id_for(channel),
            ts=self.next_ts(),
            thread_ts=thread_ts,
            text=content.text,
            blocks=content.blocks,
            attachments=content.attachments,
            metadata=content.metadata,
            via=via,
            received_at=time.time(),
            webhook_path=webhook_path,
            reply_broadcast=content.reply_broadcast and thread_ts is not None,
        )
        self.messages.append(message)
        self._by_ts[(channel, message.ts)] = message
        if thread_ts is not None:
            self._reply_counts[(channel, thread_ts)] += 1
        self._note_accept(channel, now_ns)
        return _Outcome("ok", message=message)

    def delete_message(self, channel: str, ts: str) -> bool:
        message = self._by_ts.pop((channel, ts), None)
        if message is None:
            return False
        self.messages.remove(message)
        return True

    def process_update(self, channel: str, raw: Mapping[str, Any]) -> _Outcome:
        refusal = self._channel_refusal(channel)
        if refusal is not None:
            return refusal
        ts = raw.get("ts")
        message = self._by_ts.get((channel, ts)) if isinstance(ts, str) else None
        if message is None:
            return _Outcome("refused", error="message_not_found")
        if not any(raw.get(key) not in (None, "") for key in ("text", "blocks", "attachments")):
            return _Outcome("refused", error="no_text")
        # Slack keeps blocks/attachments (and text) that the update leaves out; an explicit
        # empty list removes them.
        merged: JSON = {
            "text": message.text,
            "blocks": message.blocks,
            "attachments": message.attachments,
        }
        merged.update({k: raw[k] for k in ("text", "blocks", "attachments") if k in raw})
        try:
            content = _parse_content(merged, via="api")
        except _Refusal as refused:
            return _Outcome("refused", error=refused.error, detail=refused.detail)
        message.history.append(
            {
                "text": message.text,
                "blocks": message.blocks,
                "attachments": message.attachments,
                "replaced_at": time.time(),
            }
        )
        message.text = content.text
        message.blocks = content.blocks
        message.attachments = content.attachments
        message.edits += 1
        message.edited_ts = self.next_ts()
        return _Outcome("ok", message=message)

    def _channel_refusal(self, channel: str) -> _Outcome | None:
        state = self.channel_states.get(channel, "ok")
        if state == "ok":
            return None
        error = "channel_not_found" if state == "missing" else state
        return _Outcome("refused", error=error)

    # --- reading ---

    def reply_count(self, message: Message) -> int:
        return self._reply_counts[(message.channel, message.ts)]

    def messages_in(self, channel: str | None) -> list[Message]:
        if channel is None:
            return list(self.messages)
        return [m for m in self.messages if m.channel == channel]

    def requests_in(self, channel: str | None) -> list[RequestRecord]:
        if channel is None:
            return list(self.requests)
        return [r for r in self.requests if r.channel == channel]

    def log_request(
        self,
        *,
        endpoint: str,
        channel: str | None,
        received_at: float,
        status: int | None,
        outcome: str,
        webhook_path: str | None = None,
        fault: bool = False,
        held_seconds: float = 0.0,
        retry_after: int | None = None,
        ts: str | None = None,
    ) -> None:
        self._request_ids += 1
        self.requests.append(
            RequestRecord(
                id=self._request_ids,
                endpoint=endpoint,
                channel=channel,
                webhook_path=webhook_path,
                received_at=received_at,
                answered_at=time.time(),
                status=status,
                outcome=outcome,
                fault=fault,
                held_seconds=held_seconds,
                retry_after=retry_after,
                ts=ts,
            )
        )

    def stats(self) -> JSON:
        per_channel = Counter(m.channel for m in self.messages)
        return {
            "messages": len(self.messages),
            "per_channel": dict(sorted(per_channel.items())),
            "rate_limited": dict(sorted(self.rate_limited.items())),
            "max_rate_per_channel": dict(sorted(self.max_rate.items())),
            "abandoned": dict(sorted(self.abandoned.items())),
            "holding": {k: v for k, v in sorted(self.holding.items()) if v},
            "edits": sum(m.edits for m in self.messages),
            "requests": len(self.requests),
        }

    def channels(self) -> list[str]:
        names = {m.channel for m in self.messages}
        names.update(self.rate_limited, self.channel_states, self.abandoned)
        return sorted(names)


# --- content validation ---


def _plain(obj: Any) -> str | None:
    """The text of a string or a text object, or None when there is none."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        text: str = obj["text"]
        return text
    return None


def _explicit_limits(block: JSON) -> str | None:
    # slack_sdk checks most of these too, but not all (field length, empty text), and its
    # messages do not say which field broke; Slack rejects all of them.
    kind = block["type"]
    if kind == "header":
        text = _plain(block.get("text"))
        if not text:
            return "header text is required"
        if len(text) > MAX_HEADER_TEXT:
            return f"header text is {len(text)} characters, limit {MAX_HEADER_TEXT}"
    elif kind == "section":
        text = _plain(block.get("text"))
        if text is not None:
            if not text:
                return "section text must not be empty"
            if len(text) > MAX_SECTION_TEXT:
                return f"section text is {len(text)} characters, limit {MAX_SECTION_TEXT}"
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list):
                return "section fields must be a list"
            if len(fields) > MAX_SECTION_FIELDS:
                return f"section has {len(fields)} fields, limit {MAX_SECTION_FIELDS}"
            for j, item in enumerate(fields):
                item_text = _plain(item)
                if item_text is not None and len(item_text) > MAX_SECTION_FIELD_TEXT:
                    return (
                        f"section field {j} is {len(item_text)} characters, "
                        f"limit {MAX_SECTION_FIELD_TEXT}"
                    )
    return None


def validate_blocks(blocks: Sequence[Any], *, where: str = "blocks") -> str | None:
    """Why Slack would refuse ``blocks``, or None when it would take them."""
    if len(blocks) > MAX_BLOCKS:
        return f"{where}: {len(blocks)} blocks, limit {MAX_BLOCKS}"
    for i, raw in enumerate(blocks):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            return f"{where}[{i}]: must be an object with a string type"
        reason = _explicit_limits(raw)
        if reason is not None:
            return f"{where}[{i}]: {reason}"
        try:
            parsed = Block.parse(raw)
            if parsed is None:
                return f"{where}[{i}]: unknown block type {raw['type']!r}"
            # to_dict() runs the validators of the block and of everything nested in it.
            parsed.to_dict()
        except _PARSE_ERRORS as exc:
            return f"{where}[{i}]: {exc}"
    return None


def _json_field(value: Any, *, error: str) -> Any:
    # Form-encoded Web API calls carry structured arguments as JSON strings.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _Refusal(error, f"not JSON: {exc}") from exc
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_STRINGS
    return bool(value)


def _parse_content(raw: Mapping[str, Any], *, via: Via) -> _Content:
    text = raw.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise _Refusal("invalid_arguments", "text must be a string")

    blocks = _json_field(raw.get("blocks") or [], error="invalid_blocks")
    if not isinstance(blocks, list):
        raise _Refusal("invalid_blocks", "blocks must be a list")

    attachments = _json_field(raw.get("attachments") or [], error="invalid_attachments")
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise _Refusal("invalid_attachments", "attachments must be a list of objects")
    if len(attachments) > MAX_ATTACHMENTS:
        raise _Refusal("too_many_attachments", f"limit {MAX_ATTACHMENTS}")

    if not text.strip() and not blocks and not attachments:
        raise _Refusal("no_text")
    if len(text) > MAX_MESSAGE_TEXT:
        raise _Refusal("msg_too_long", f"text is {len(text)} characters, limit {MAX_MESSAGE_TEXT}")
    reason = validate_blocks(blocks)
    if reason is not None:
        raise _Refusal("invalid_blocks", reason)
    for i, attachment in enumerate(attachments):
        nested = attachment.get("blocks")
        if nested is None:
            continue
        if not isinstance(nested, list):
            raise _Refusal("invalid_attachments", f"attachments[{i}].blocks must be a list")
        reason = validate_blocks(nested, where=f"attachments[{i}].blocks")
        if reason is not None:
            raise _Refusal("invalid_attachments", reason)

    metadata: JSON | None = None
    # Webhooks cannot carry message metadata in Slack, so it is ignored there.
    if via == "api":
        value = _json_field(raw.get("metadata") or None, error="invalid_metadata_format")
        if value is not None:
            if not (
                isinstance(value, dict)
                and isinstance(value.get("event_type"), str)
                and isinstance(value.get("event_payload"), dict)
            ):
                raise _Refusal(
                    "invalid_metadata_format", "metadata needs event_type and event_payload"
                )
            metadata = value

    thread_ts = raw.get("thread_ts")
    if thread_ts in (None, ""):
        thread_ts = None
    elif not isinstance(thread_ts, str):
        raise _Refusal("invalid_arguments", "thread_ts must be a string")

    return _Content(
        text=text,
        blocks=blocks,
        attachments=attachments,
        metadata=metadata,
        thread_ts=thread_ts,
        reply_broadcast=_as_bool(raw.get("reply_broadcast", False)),
    )


# --- HTTP plumbing ---


def _state(request: Request) -> SandboxState:
    state = request.app.state.sandbox
    if not isinstance(state, SandboxState):
        raise TypeError("app.state.sandbox is not a SandboxState; build the app with create_app")
    return state


def _fault_body(status: int) -> str:
    known = _FAULT_BODIES.get(status)
    if known is not None:
        return known
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"error_{status}"


def _retry_headers(retry_after: int | None) -> dict[str, str] | None:
    return None if retry_after is None else {"Retry-After": str(retry_after)}


async def _deliver(
    state: SandboxState,
    request: Request,
    channel: str,
    raw: Mapping[str, Any],
    *,
    via: Via,
    webhook_path: str | None,
) -> _Outcome:
    async with state.lock():
        hold = state.pop_hold(channel)
    if hold is not None:
        logger.info("holding request to %s for %s s", channel, hold)
        async with state.lock():
            state.holding[channel] += 1
        try:
            await asyncio.sleep(hold)
        finally:
            async with state.lock():
                state.holding[channel] -= 1
        if await request.is_disconnected():
            # The client gave up, so in Slack terms the post never completed.
            async with state.lock():
                state.abandoned[channel] += 1
            logger.info("client left while held; not recording message to %s", channel)
            return _Outcome("abandoned", held_seconds=hold)
    async with state.lock():
        outcome = state.process_post(channel, raw, via=via, webhook_path=webhook_path)
        late_queue = state.late_answers.get(channel)
        late = late_queue.popleft() if late_queue and outcome.kind == "ok" else None
    if late is not None:
        async with state.lock():
            state.holding[channel] += 1
        try:
            await asyncio.sleep(late)
        finally:
            async with state.lock():
                state.holding[channel] -= 1
    if outcome.kind == "refused":
        logger.info("refused post to %s: %s %s", channel, outcome.error, outcome.detail)
    elif outcome.kind == "fault":
        logger.info("injected fault: answering %s to %s", outcome.status, channel)
    elif outcome.kind == "rate_limited":
        logger.info("rate limited %s; retry after %s s", channel, outcome.retry_after)
    return replace(outcome, held_seconds=hold or 0.0)


def _webhook_response(outcome: _Outcome) -> tuple[Response, str]:
    if outcome.kind == "ok":
        return PlainTextResponse("ok"), "ok"
    if outcome.kind == "abandoned":
        return PlainTextResponse("abandoned", status_code=CLIENT_CLOSED_STATUS), "abandoned"
    if outcome.kind == "rate_limited":
        headers = _retry_headers(outcome.retry_after)
        return PlainTextResponse("rate_limited", 429, headers=headers), "rate_limited"
    if outcome.kind == "fault" and outcome.error:
        status = _WEBHOOK_FAULT_STATUS.get(outcome.error, 400)
        return PlainTextResponse(outcome.error, status), outcome.error
    if outcome.kind == "fault":
        body = _fault_body(outcome.status)
        headers = _retry_headers(outcome.retry_after)
        return PlainTextResponse(body, outcome.status, headers=headers), body
    status, body = _WEBHOOK_ERRORS.get(outcome.error, (400, "invalid_payload"))
    return PlainTextResponse(body, status), body


def _api_error(error: str, detail: str = "") -> JSONResponse:
    payload: JSON = {"ok": False, "error": error}
    if detail:
        payload["response_metadata"] = {"messages": [f"[ERROR] {detail}"]}
    return JSONResponse(payload)


def _api_response(outcome: _Outcome, ok_payload: JSON | None) -> tuple[Response, str]:
    if outcome.kind == "ok" and ok_payload is not None:
        return JSONResponse(ok_payload), "ok"
    if outcome.kind == "abandoned":
        return PlainTextResponse("abandoned", status_code=CLIENT_CLOSED_STATUS), "abandoned"
    if outcome.kind == "fault" and outcome.error:
        return _api_error(outcome.error), outcome.error
    if outcome.kind == "rate_limited" or (outcome.kind == "fault" and outcome.status == 429):
        headers = _retry_headers(outcome.retry_after)
        body: JSON = {"ok": False, "error": "ratelimited"}
        return JSONResponse(body, status_code=429, headers=headers), "ratelimited"
    if outcome.kind == "fault":
        text = _fault_body(outcome.status)
        return PlainTextResponse(text, outcome.status), text
    error = _API_ERRORS.get(outcome.error, outcome.error)
    return _api_error(error, outcome.detail), error


async def _api_args(request: Request) -> JSON:
    """Arguments of a Web API call from the query string and a JSON or form body."""
    args: JSON = dict(request.query_params)
    body = await request.body()
    if not body.strip():
        return args
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise _Refusal("invalid_json", str(exc)) from exc
        if not isinstance(data, dict):
            raise _Refusal("invalid_json", "body must be a JSON object")
        args.update(data)
    elif content_type.startswith("multipart/"):
        # Only file uploads use multipart, and the sandbox has no files API.
        raise _Refusal("invalid_form_data", "multipart bodies are not supported")
    else:
        try:
            args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise _Refusal("invalid_form_data", str(exc)) from exc
    return args


def _auth_error(state: SandboxState, request: Request, args: Mapping[str, Any]) -> str | None:
    header = request.headers.get("authorization", "").strip()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "invalid_auth"
        token = token.strip()
    else:
        # Slack also takes the token as a form argument, and old clients send it that way.
        token = str(args.get("token") or "").strip()
        if not token:
            return "not_authed"
    if state.valid_tokens is not None and token not in state.valid_tokens:
        return "invalid_auth"
    return None


async def _api_call(
    request: Request, endpoint: str
) -> tuple[SandboxState, JSON | None, JSONResponse | None]:
    """Parse and authenticate a Web API call; on failure the response is already logged."""
    state = _state(request)
    received_at = time.time()
    try:
        args = await _api_args(request)
    except _Refusal as refused:
        async with state.lock():
            state.log_request(
                endpoint=endpoint,
                channel=None,
                received_at=received_at,
                status=200,
                outcome=refused.error,
            )
        return state, None, _api_error(refused.error, refused.detail)
    error = _auth_error(state, request, args)
    if error is not None:
        async with state.lock():
            state.log_request(
                endpoint=endpoint, channel=None, received_at=received_at, status=200, outcome=error
            )
        return state, None, _api_error(error)
    return state, args, None


def _channel_arg(state: SandboxState, args: Mapping[str, Any]) -> str | None:
    raw = args.get("channel")
    return state.resolve_channel(raw) if isinstance(raw, str) else None


def _ts_key(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise _Refusal("invalid_ts", f"not a timestamp: {value!r}") from exc


router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"ok": True})


@router.post("/services/{path:path}")
async def incoming_webhook(path: str, request: Request) -> Response:
    state = _state(request)
    received_at = time.time()
    webhook_path = path.strip("/")
    body = await request.body()
    payload: Any = None
    try:
        # Legacy integrations post form-encoded ``payload=<json>``; everything else posts JSON.
        text = body.decode("utf-8")
        form = dict(parse_qsl(text)) if text.startswith("payload=") else {}
        payload = json.loads(form.get("payload", text))
    except ValueError:
        payload = None
    channel: str | None = None
    if isinstance(payload, dict):
        # Like legacy webhooks, the payload may override the channel the hook posts to.
        raw_channel = payload.get("channel")
        if not isinstance(raw_channel, str) or not raw_channel.strip():
            raw_channel = DEFAULT_WEBHOOK_CHANNEL
        channel = state.resolve_channel(raw_channel)

    if webhook_path in state.revoked_webhooks:
        outcome = _Outcome("refused", error="no_service")
    elif not isinstance(payload, dict):
        outcome = _Outcome("refused", error="invalid_payload", detail="body is not a JSON object")
    elif channel is None:
        outcome = _Outcome("refused", error="channel_not_found")
    else:
        outcome = await _deliver(
            state, request, channel, payload, via="webhook", webhook_path=webhook_path
        )
    response, label = _webhook_response(outcome)
    await _log_post(state, "webhook", channel, received_at, response, outcome, label, webhook_path)
    return response


async def _log_post(
    state: SandboxState,
    endpoint: str,
    channel: str | None,
    received_at: float,
    response: Response,
    outcome: _Outcome,
    label: str,
    webhook_path: str | None = None,
) -> None:
    async with state.lock():
        state.log_request(
            endpoint=endpoint,
            channel=channel,
            webhook_path=webhook_path,
            received_at=received_at,
            status=None if outcome.kind == "abandoned" else response.status_code,
            outcome=label,
            fault=outcome.kind == "fault",
            held_seconds=outcome.held_seconds,
            retry_after=outcome.retry_after,
            ts=outcome.message.ts if outcome.message else None,
        )


@router.api_route("/api/chat.postMessage", methods=["GET", "POST"])
async def chat_post_message(request: Request) -> Response:
    received_at = time.time()
    state, args, failed = await _api_call(request, "chat.postMessage")
    if failed is not None or args is None:
        return failed or _api_error("invalid_arguments")
    channel = _channel_arg(state, args)
    if channel is None:
        outcome = _Outcome("refused", error="channel_not_found")
    else:
        outcome = await _deliver(state, request, channel, args, via="api", webhook_path=None)
    ok_payload: JSON | None = None
    if outcome.message is not None:
        ok_payload = {
            "ok": True,
            "channel": outcome.message.channel_id,
            "ts": outcome.message.ts,
            "message": outcome.message.slack_json(),
        }
    response, label = _api_response(outcome, ok_payload)
    await _log_post(state, "chat.postMessage", channel, received_at, response, outcome, label)
    return response


@router.api_route("/api/chat.update", methods=["GET", "POST"])
async def chat_update(request: Request) -> Response:
    received_at = time.time()
    state, args, failed = await _api_call(request, "chat.update")
    if failed is not None or args is None:
        return failed or _api_error("invalid_arguments")
    channel = _channel_arg(state, args)
    async with state.lock():
        if channel is None:
            outcome = _Outcome("refused", error="channel_not_found")
        else:
            outcome = state.process_update(channel, args)
        ok_payload: JSON | None = None
        if outcome.message is not None:
            ok_payload = {
                "ok": True,
                "channel": outcome.message.channel_id,
                "ts": outcome.message.ts,
                "text": outcome.message.text,
                "message": outcome.message.slack_json(
                    reply_count=state.reply_count(outcome.message)
                ),
            }
        response, label = _api_response(outcome, ok_payload)
        state.log_request(
            endpoint="chat.update",
            channel=channel,
            received_at=received_at,
            status=response.status_code,
            outcome=label,
            ts=outcome.message.ts if outcome.message else None,
        )
    return response


@router.api_route("/api/auth.test", methods=["GET", "POST"])
async def auth_test(request: Request) -> Response:
    received_at = time.time()
    state, args, failed = await _api_call(request, "auth.test")
    if failed is not None or args is None:
        return failed or _api_error("invalid_arguments")
    async with state.lock():
        state.log_request(
            endpoint="auth.test", channel=None, received_at=received_at, status=200, outcome="ok"
        )
    return JSONResponse(
        {
            "ok": True,
            "url": "http://sandbox.slack.local/",
            "team": "Sandbox",
            "user": "alerting-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }
    )


@router.api_route("/api/conversations.history", methods=["GET", "POST"])
async def conversations_history(request: Request) -> Response:
    received_at = time.time()
    state, args, failed = await _api_call(request, "conversations.history")
    if failed is not None or args is None:
        return failed or _api_error("invalid_arguments")
    channel = _channel_arg(state, args)
    async with state.lock():
        try:
            payload = _history(state, channel, args)
            response: JSONResponse = JSONResponse(payload)
            label = "ok"
        except _Refusal as refused:
            response, label = _api_error(refused.error, refused.detail), refused.error
        state.log_request(
            endpoint="conversations.history",
            channel=channel,
            received_at=received_at,
            status=200,
            outcome=label,
        )
    return response


def _history(state: SandboxState, channel: str | None, args: Mapping[str, Any]) -> JSON:
    if channel is None or state.channel_states.get(channel) == "missing":
        raise _Refusal("channel_not_found")
    if state.channel_states.get(channel) == "not_in_channel":
        raise _Refusal("not_in_channel")
    try:
        limit = int(args.get("limit") or DEFAULT_HISTORY_LIMIT)
    except (TypeError, ValueError) as exc:
        raise _Refusal("invalid_limit", str(exc)) from exc
    limit = min(max(limit, 1), MAX_HISTORY_LIMIT)
    oldest = _ts_key(args.get("oldest"))
    latest = _ts_key(args.get("latest"))
    # As in Slack, metadata is only returned when asked for.
    include_metadata = _as_bool(args.get("include_all_metadata", False))
    found = [
        m
        for m in state.messages_in(channel)
        if m.is_top_level
        and (oldest is None or Decimal(m.ts) > oldest)
        and (latest is None or Decimal(m.ts) < latest)
    ]
    found.sort(key=lambda m: Decimal(m.ts), reverse=True)
    page = found[:limit]
    return {
        "ok": True,
        "messages": [
            m.slack_json(reply_count=state.reply_count(m), include_metadata=include_metadata)
            for m in page
        ],
        "has_more": len(found) > limit,
        "pin_count": 0,
        "response_metadata": {"next_cursor": ""},
    }


@router.api_route("/api/{method}", methods=["GET", "POST"])
async def unknown_method(method: str) -> JSONResponse:
    return _api_error("unknown_method", f"the sandbox does not implement {method}")


# --- control API ---


class _ConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_limit: bool | None = None
    burst: int | None = Field(default=None, ge=1)
    per_second: float | None = Field(default=None, gt=0)


class _ChannelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1)
    state: ChannelState


class _RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    #: False restores a revoked webhook.
    revoked: bool = True


class _FaultsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1)
    responses: list[Annotated[int, Field(ge=400, le=599)]] = Field(default_factory=list)
    #: Seconds sent in ``Retry-After`` with injected 429s.
    retry_after: int = Field(default=1, ge=0)
    #: Seconds each held request waits before it is processed.
    hold_seconds: float | None = Field(default=None, ge=0)
    #: How many of the next requests are held.
    count: int = Field(default=1, ge=1)
    #: Seconds the next ``count`` requests wait *after* being processed and recorded, before
    #: the answer: the post happened, but a client that gives up never hears of it.
    answer_late_seconds: float | None = Field(default=None, ge=0)
    #: Slack error strings the next requests get, after ``responses``: a Web API call answers
    #: ``{"ok": false, "error": e}``, a webhook answers ``e`` with Slack's status for it.
    errors: list[Annotated[str, Field(pattern=r"^[a-z_]{1,64}$")]] = Field(default_factory=list)


def _control_channel(state: SandboxState, raw: str | None) -> str | None:
    if raw is None:
        return None
    # An unknown ID still filters (to nothing) rather than silently listing everything.
    return state.resolve_channel(raw) or raw


def _bad_channel(raw: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": f"unknown channel {raw!r}"}, status_code=400)


@router.get("/sandbox/messages")
async def sandbox_messages(request: Request, channel: str | None = None) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        name = _control_channel(state, channel)
        found = [m.to_json() for m in state.messages_in(name)]
    return JSONResponse(found)


@router.get("/sandbox/requests")
async def sandbox_requests(request: Request, channel: str | None = None) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        name = _control_channel(state, channel)
        found = [r.to_json() for r in state.requests_in(name)]
    return JSONResponse(found)


@router.get("/sandbox/stats")
async def sandbox_stats(request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        return JSONResponse(state.stats())


@router.post("/sandbox/reset")
async def sandbox_reset(request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        state.reset()
        standins.reset(request.app)
    logger.info("sandbox reset")
    return JSONResponse({"ok": True})


@router.get("/sandbox/config")
async def sandbox_get_config(request: Request) -> JSONResponse:
    state = _state(request)
    return JSONResponse(state.config_json())


@router.post("/sandbox/config")
async def sandbox_config(body: _ConfigBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        state.configure(rate_limit=body.rate_limit, burst=body.burst, per_second=body.per_second)
        config = state.config_json()
    logger.info("sandbox config now %s", config)
    return JSONResponse({"ok": True, **config})


@router.post("/sandbox/channels")
async def sandbox_channels(body: _ChannelBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        name = state.resolve_channel(body.channel)
        if name is None:
            return _bad_channel(body.channel)
        if body.state == "ok":
            state.channel_states.pop(name, None)
        else:
            state.channel_states[name] = body.state
    return JSONResponse({"ok": True, "channel": name, "channel_id": channel_id_for(name)})


@router.post("/sandbox/webhooks/revoke")
async def sandbox_revoke(body: _RevokeBody, request: Request) -> JSONResponse:
    state = _state(request)
    path = body.path.strip("/").removeprefix("services/")
    async with state.lock():
        if body.revoked:
            state.revoked_webhooks.add(path)
        else:
            state.revoked_webhooks.discard(path)
    return JSONResponse({"ok": True, "path": path, "revoked": body.revoked})


class _DeleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1)
    ts: str = Field(min_length=1)


@router.post("/sandbox/messages/delete")
async def sandbox_delete(body: _DeleteBody, request: Request) -> JSONResponse:
    """Delete a message as a Slack user would: updates of it then fail, replies too."""
    state = _state(request)
    async with state.lock():
        name = state.resolve_channel(body.channel)
        if name is None or not state.delete_message(name, body.ts):
            return JSONResponse({"ok": False, "error": "message_not_found"}, status_code=404)
    return JSONResponse({"ok": True, "channel": name, "ts": body.ts})


@router.post("/sandbox/faults")
async def sandbox_faults(body: _FaultsBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        name = state.resolve_channel(body.channel)
        if name is None:
            return _bad_channel(body.channel)
        state.add_faults(name, body.responses, body.retry_after, body.errors)
        if body.hold_seconds is not None:
            state.add_holds(name, body.hold_seconds, body.count)
        if body.answer_late_seconds is not None:
            state.late_answers.setdefault(name, deque()).extend(
                [body.answer_late_seconds] * body.count
            )
    logger.info(
        "faults for %s: responses=%s hold=%s x%s",
        name,
        body.responses,
        body.hold_seconds,
        body.count if body.hold_seconds is not None else 0,
    )
    return JSONResponse({"ok": True, "channel": name})
