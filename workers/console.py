"""What the worker and beat print: the lines an operator watches for, not the routine.

Celery logs two INFO lines per task (received, succeeded) and beat one per due periodic task:
about three lines a second on an idle stack, which scroll away what matters. Those become
DEBUG (shown with ``-l DEBUG``); the project's own INFO lines remain: alerts received, messages
sent, escalations fired, and warnings and errors (messages that failed, stuck work, crashes).
"""

from __future__ import annotations

import logging

#: Celery loggers whose INFO records are routine, and the start of each routine message
#: (an empty prefix: all of that logger's INFO records).
ROUTINE = {
    "celery.beat": "Scheduler: Sending due task",
    "celery.worker.strategy": "Task ",
    "celery.app.trace": "",
}


class RoutineToDebug(logging.Filter):
    """Turns a logger's routine INFO records into DEBUG ones (dropped unless DEBUG is on)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith(self.prefix):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_routine_logs() -> None:
    """Install the filters once per process (a forked pool child inherits them)."""
    for name, prefix in ROUTINE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineToDebug) for f in logger.filters):
            logger.addFilter(RoutineToDebug(prefix))
