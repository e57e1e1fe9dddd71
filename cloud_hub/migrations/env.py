"""Alembic environment: the engine comes from `cloud_hub.core.db.upgrade` (or a URL).

On PostgreSQL the migrations run under a session-level advisory lock: hub replicas starting
together each migrate at start-up, Alembic takes no lock of its own, and without one they raced
(duplicate `alembic_version` rows, "relation already exists"). The first replica migrates; the
others wait for the lock and then find the schema current.
"""

from alembic import context
from sqlalchemy import create_engine, text

from cloud_hub.core.leader import MIGRATION_LOCK
from cloud_hub.db.tables import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")

with engine.connect() as connection:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()  # the lock is the session's: it outlives this transaction
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if postgres:
            connection.rollback()  # a failed migration leaves an aborted transaction
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
