"""Service functions behind the Celery tasks: ingest, route, deliver, lifecycle, sweep.

Each takes a session (or opens its own transactions when it must talk to Slack between
them) and returns what the task should enqueue next; none of them enqueues anything.
"""
