"""Alembic environment: the URL comes from the caller (``alerting db upgrade``) or settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from alerting.db.models import Base
from alerting.db.session import normalise_url
from alerting.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().require_postgres_url()


def run_migrations_online() -> None:
    engine = create_engine(normalise_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            # Two `migrate` containers starting at once must not both apply the same revision.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(724011)")
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=normalise_url(url), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
