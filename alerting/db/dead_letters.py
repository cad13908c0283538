"""Dead letters: broker messages no task could run, kept in PostgreSQL for an operator.

The worker's consumer (``workers/guard.py``) writes them; ``alerting dead-letters`` reads and
purges them. Everything in a dead letter came from whoever could publish to the broker: it is
stored as received (the body as bytes, the headers as ASCII-escaped JSON) and shown literally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, delete, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from alerting.db.models import DeadLetter
from alerting.db.session import normalise_url

#: Longest stored ``detail``, in characters (an exception's text can be as long as its input).
MAX_DETAIL_CHARS = 2000
#: Seconds the worker's consumer waits for PostgreSQL when storing one (it serves every
#: queue meanwhile, so it must not hang on a database that does not answer).
STORE_TIMEOUT_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Letter:
    """A refused message, as the consumer saw it."""

    queue: str
    reason: str
    detail: str
    headers: Any
    body: bytes
    message_id: str | None = None
    task: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    worker: str = ""


def headers_text(headers: Any) -> str:
    """JSON that any input turns into: ASCII only (NUL and lone surrogates escaped, which
    PostgreSQL text could not hold), values JSON cannot express written as their repr."""
    return json.dumps(headers, ensure_ascii=True, default=repr, sort_keys=False)


def _short(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    # Text columns cannot hold NUL or lone surrogates: keep them visible, escaped.
    text = value.encode("utf-8", errors="backslashreplace").decode("utf-8").replace("\0", "\\x00")
    return text[:limit]


def add_dead_letter(session: Session, letter: Letter) -> DeadLetter:
    row = DeadLetter(
        queue=_short(letter.queue, 200) or "?",
        message_id=_short(letter.message_id, 255),
        task=_short(letter.task, 255),
        reason=letter.reason[:32],
        detail=_short(letter.detail, MAX_DETAIL_CHARS) or "",
        headers=headers_text(letter.headers),
        body=letter.body,
        content_type=_short(letter.content_type, 255),
        content_encoding=_short(letter.content_encoding, 64),
        worker=_short(letter.worker, 255) or "",
    )
    session.add(row)
    session.flush()
    return row


_store_engines: dict[str, Engine] = {}


def store_dead_letter(url: str, letter: Letter) -> int:
    """Store ``letter`` in its own short transaction; returns its id.

    Called from the worker's main process, which forks the pool: no pooled connection is kept
    (a forked child would share its socket), and a database that does not answer fails the
    call within :data:`STORE_TIMEOUT_SECONDS` instead of stalling the consumer.
    """
    engine = _store_engines.get(url)
    if engine is None:
        engine = _store_engines[url] = create_engine(
            normalise_url(url),
            poolclass=NullPool,
            connect_args={
                "connect_timeout": STORE_TIMEOUT_SECONDS,
                "options": f"-c statement_timeout={STORE_TIMEOUT_SECONDS * 1000}",
            },
        )
    with Session(engine) as session, session.begin():
        return add_dead_letter(session, letter).id


def list_dead_letters(
    session: Session, *, queue: str | None = None, reason: str | None = None, limit: int = 50
) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if queue is not None:
        query = query.where(DeadLetter.queue == queue)
    if reason is not None:
        query = query.where(DeadLetter.reason == reason)
    return list(session.scalars(query))


def get_dead_letter(session: Session, letter_id: int) -> DeadLetter | None:
    return session.get(DeadLetter, letter_id)


def purge_dead_letters(
    session: Session,
    *,
    ids: list[int] | None = None,
    before: datetime | None = None,
    queue: str | None = None,
) -> int:
    """Delete the dead letters selected (all of them when nothing is given); returns how many."""
    statement = delete(DeadLetter)
    if ids:
        statement = statement.where(DeadLetter.id.in_(ids))
    if before is not None:
        statement = statement.where(DeadLetter.received_at < before)
    if queue is not None:
        statement = statement.where(DeadLetter.queue == queue)
    result = session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
