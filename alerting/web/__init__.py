"""The HTTP side: ingest API, lifecycle actions, metrics."""
