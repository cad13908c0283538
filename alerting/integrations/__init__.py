"""Other systems the service talks to: sources that send it alerts (Alertmanager), targets
it notifies besides Slack (PagerDuty, ServiceNow)."""
