"""Slack delivery: clients for webhooks and the Web API, and a local sandbox."""
