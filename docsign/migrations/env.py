from __future__ import annotations

from alembic import context

from docsign.db import get_engine
from docsign.models import Base
from docsign.models.base import UtcDateTime

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # Celery's result backend and kombu's broker tables are theirs, not ours.
    return not (type_ == "table" and (name.startswith("celery_") or name.startswith("kombu_")))


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    # Migrations stay independent of the model code: UtcDateTime is stored as a plain timestamp.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
