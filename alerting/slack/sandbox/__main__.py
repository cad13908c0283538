from __future__ import annotations

from alerting.slack.sandbox.app import main

main()
