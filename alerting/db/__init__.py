"""PostgreSQL: models, sessions, repositories and migrations."""
