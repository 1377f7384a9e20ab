"""Run the Alembic migrations from code (`flatnas server up`, tests, docker-compose's migrate service).

Usage: `python -m store.migrate [upgrade|downgrade] [revision]` migrates settings.DATABASE_URL.
"""

from __future__ import annotations

import sys
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
    from store.settings import settings

    args = sys.argv[1:] if argv is None else argv
    action = args[0] if args else "upgrade"
    if action not in ("upgrade", "downgrade"):
        print(
            f"usage: python -m store.migrate [upgrade|downgrade] [revision]; got {action!r}", file=sys.stderr
        )
        return 2
    revision = args[1] if len(args) > 1 else ("head" if action == "upgrade" else "base")
    (upgrade if action == "upgrade" else downgrade)(settings.DATABASE_URL, revision)
    print(f"{action} to {revision}: done ({make_engine(settings.DATABASE_URL).url.render_as_string()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
