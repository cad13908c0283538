"""``make bench``: raw Celery no-op throughput vs. end-to-end alert throughput and latency.

Both are measured in one run, on the same broker and with the same worker concurrency, so
their ratio says how much of the worker's capacity the alert pipeline itself consumes.
"""
