"""``make bench``: raw Celery no-op throughput vs. end-to-end alert throughput and latency.

Both are measured in one run, on the same broker and with the same worker concurrency, so
their ratio says how much of the worker's capacity the alert pipeline itself consumes.

* ``python -m bench`` — the figures (``--py-spy`` adds a sampled run: where pool time goes),
  then deliveries per second in Web API mode (post, update and thread reply per alert)
  against webhook mode (``--mode-alerts``, ``--skip-modes``);
* ``python -m bench.render`` — in process, no services: Slack payloads rendered per second
  (template + formatter) per locale, against ``json.dumps`` of the same payloads; also the
  first phase of ``python -m bench`` (``--renders``, ``--skip-render``);
* ``python -m bench.escalation`` — 2 000 escalations whose levels fall due at once under a real
  beat tick (1 s) and worker: per level, p50/p99/max lateness of the written notifications,
  levels fired twice or never, and p99 lateness ÷ tick; also the last phase of
  ``python -m bench`` (``--escalations``, ``--escalation-tick``, ``--skip-escalation``);
* ``python -m bench.storm`` — 10 000 alerts in 10 s into one tenant (20 alert types, 3
  channels, grouped by alert type), the sandbox enforcing Slack's per-channel limit: alerts
  stored and accounted for in digests (must be all), messages per channel, the highest rate a
  channel saw, 429s (aim: none), last alert in → last message out, messages ÷ alerts; also a
  phase of ``python -m bench`` (``--storm-alerts``, ``--storm-seconds``, ``--skip-storm``);
* ``python -m bench.matchers`` — in process, no services: a hostile ``v=~(a+)+`` on RE2 against
  ``n`` ``a``s and ``!``, as a ratio to a plain match (and Python's backtracking ``re``);
* ``python -m bench.priority`` — the original design's tenant (``rate_limit: 10``, no routing
  tree, Web API) under a storm of 10 000 alerts in 10 s (1 % critical), a critical every second
  and an escalation policy, Slack's limit enforced: critical publish → Slack and escalation
  lateness (p50/p99/max), 429s, the highest channel rate, new messages per 60 s against the
  budget, alerts never told (must be 0), last publish → all told, messages ÷ alerts, another
  tenant's alert mid-storm; also a phase of ``python -m bench`` (``--priority-alerts``,
  ``--priority-seconds``, ``--skip-priority``);
* ``python -m bench.alert_path`` — the pipeline in one process without Celery: round trips
  per stage and the cost of each suspect (pre-ping, commit, tenant load, TLS set-up, …).

Modules: :mod:`bench.harness` (services, database, sandbox, workers), :mod:`bench.noop` (the
no-op task), :mod:`bench.measure`, :mod:`bench.modes` (delivery modes), :mod:`bench.render`
(render benchmark), :mod:`bench.escalation` (levels due at once), :mod:`bench.storm` (an alert
storm), :mod:`bench.priority` (priority under pressure), :mod:`bench.stats`,
:mod:`bench.report`, :mod:`bench.profile` (py-spy).
"""
