"""alembic environment: run migrations on the connection derive.web.storage.upgrade hands over.

On PostgreSQL an advisory lock makes instances that start together migrate one after another.
"""

from alembic import context
from sqlalchemy import text

MIGRATION_LOCK = 0x64657269  # any constant: the key of the advisory lock


def run() -> None:
    connection = context.config.attributes["connection"]
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


run()
