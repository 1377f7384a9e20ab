"""`flatnas server up|keys|migrate`: the service's own side (migrations, API keys on the database,
the embedded API and worker). Its code (api.cli_up, api.cli_keys, store) is imported only when one
of these commands runs."""

from __future__ import annotations

import argparse
from typing import Any

from flatnas.cli.common import import_part, reported

# store.models.SCOPES, spelled out so `flatnas --help` does not import the store (a test keeps them equal).
SCOPES = ("read", "submit", "admin")
# store.models.MAX_KEY_NAME, likewise: a key's name fits its column, said before any database work.
MAX_KEY_NAME = 100


def _key_name(value: str) -> str:
    if not 1 <= len(value) <= MAX_KEY_NAME:
        raise argparse.ArgumentTypeError(f"a key name has 1 to {MAX_KEY_NAME} characters")
    return value


def _server(module: str, function: str, command: str) -> Any:
    @reported
    def run(args: argparse.Namespace) -> int:
        return int(getattr(import_part(module, f"server {command}"), function)(args) or 0)

    return run


@reported
def migrate(args: argparse.Namespace) -> int:
    store_migrate = import_part("store.migrate", "server migrate")
    settings = import_part("store.settings", "server migrate").settings
    store_migrate.upgrade(settings.DATABASE_URL)
    print(f"flatnas: database {settings.DATABASE_URL} is at the newest schema")
    return 0


def add_commands(commands: Any) -> None:
    """The `flatnas server ...` group."""
    group = commands.add_parser("server", help="run the service: up, API keys, database migrations")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    up = actions.add_parser("up", help="migrate the database, start the API and one worker")
    up.add_argument("--host", help="API host (default: API_HOST setting)")
    up.add_argument("--port", type=int, help="API port (default: API_PORT setting)")
    up.add_argument("--no-worker", action="store_true", help="start the API only")
    up.set_defaults(run=_server("api.cli_up", "up", "up"))

    actions.add_parser("migrate", help="bring DATABASE_URL to the newest schema").set_defaults(run=migrate)

    keys = actions.add_parser("keys", help="manage API keys (works on DATABASE_URL directly)")
    key_actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="create a key and print it once")
    create.add_argument("name", type=_key_name, help=f"who the key is for (1 to {MAX_KEY_NAME} characters)")
    create.add_argument(
        "--scope", choices=SCOPES, default="submit", help="read < submit < admin (default submit)"
    )
    create.set_defaults(run=_server("api.cli_keys", "create", "keys create"))
    listing = key_actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(run=_server("api.cli_keys", "list_keys", "keys list"))
    revoke = key_actions.add_parser("revoke", help="revoke a key by id (or a unique prefix)")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_server("api.cli_keys", "revoke", "keys revoke"))
