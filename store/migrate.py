"""Run the Alembic migrations from code (`flatnas server up`, tests, docker-compose's migrate service).

Usage: `python -m store.migrate [upgrade|downgrade] [revision]` migrates settings.DATABASE_URL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from store.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config interpolates %(...)s; a password may contain '%'.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at `url` down to `revision` ("base" drops every table)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m store.migrate", description="Migrate the database at DATABASE_URL (Alembic)."
    )
    parser.add_argument("action", nargs="?", default="upgrade", choices=("upgrade", "downgrade"))
    parser.add_argument("revision", nargs="?", help="target revision (default: head up, base down)")
    args = parser.parse_args(argv)

    from store.settings import settings

    revision = args.revision or ("head" if args.action == "upgrade" else "base")
    (upgrade if args.action == "upgrade" else downgrade)(settings.DATABASE_URL, revision)
    url = make_engine(settings.DATABASE_URL).url.render_as_string()
    print(f"{args.action} to {revision}: done ({url})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
