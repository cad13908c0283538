"""Outside systems an alert can reach besides Slack: PagerDuty and ServiceNow (targets)."""
