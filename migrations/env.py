"""Alembic environment: Vigil passes its engine in; every package's models are imported."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from app import load_models

load_models()  # every table, so autogenerate compares the whole schema

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("Vigil runs migrations online only: flask --app app db upgrade")
run_migrations_online()
