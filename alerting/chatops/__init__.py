"""ChatOps: what people do to alerts from Slack (slash command, buttons, modals, shortcuts).

``commands`` parses the slash command's text, ``permissions`` says who may do what (the
tenant's ``chatops`` block), ``service`` carries the work out on a worker, ``answers`` builds
what Slack shows back. The Slack request surface itself is ``alerting/web/slack_app.py``.
"""
