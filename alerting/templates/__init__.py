"""Built-in Jinja2 templates per alert type (``alerts/``) and message catalogs (``locale/``)."""
