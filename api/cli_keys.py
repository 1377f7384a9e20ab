"""`flatnas server keys ...`: API keys, managed directly in the database (the API has no key endpoints:
whoever can reach DATABASE_URL is already an administrator)."""

from __future__ import annotations

import argparse

from store import migrate
from store.db import Database
from store.repositories import keys


def _database() -> Database:
    from store import settings as settings_module

    url = settings_module.settings.DATABASE_URL
    migrate.upgrade(url)  # a no-op when current; lets `keys create` work before the first `up`
    return Database(url)


def create(args: argparse.Namespace) -> int:
    database = _database()
    with database.session() as session:
        key, token = keys.create_key(session, args.name, args.scope)
    database.dispose()
    # The export line stands alone, so pasting it into a shell works.
    print(f"created key {key.id} ({key.name}, scope {key.scope}). Shown only now; paste this line:\n")
    print(f"export FLATNAS_API_KEY={token}\n")
    # Double quotes: the shell expands $FLATNAS_API_KEY inside them (not inside single quotes).
    print('then, e.g.: curl -H "Authorization: Bearer $FLATNAS_API_KEY" "$FLATNAS_URL/searches"')
    return 0


def list_keys(args: argparse.Namespace) -> int:
    database = _database()
    with database.session() as session:
        rows = keys.list_keys(session, include_revoked=args.all)
        lines = [
            f"{k.id:<14} {k.scope:<7} {k.created_at:%Y-%m-%d %H:%M}  "
            f"{'revoked ' + format(k.revoked_at, '%Y-%m-%d') if k.revoked_at else 'active':<18} {k.name}"
            for k in rows
        ]
    database.dispose()
    print(f"{'ID':<14} {'SCOPE':<7} {'CREATED':<17} {'STATE':<18} NAME")
    print(
        "\n".join(lines)
        if lines
        else "(no keys; create one with: flatnas server keys create NAME --scope submit)"
    )
    return 0


def revoke(args: argparse.Namespace) -> int:
    database = _database()
    with database.session() as session:
        # A unique prefix of the id will do, as git takes commit ids.
        matches = [
            k.id for k in keys.list_keys(session, include_revoked=True) if k.id.startswith(args.key_id)
        ]
        key = keys.revoke_key(session, matches[0]) if len(matches) == 1 else None
    database.dispose()
    if len(matches) > 1:
        print(f"key id prefix {args.key_id!r} is ambiguous: {', '.join(matches)}; give more of it")
        return 1
    if key is None:
        print(f"no key with id {args.key_id!r} (see: flatnas server keys list --all)")
        return 1
    print(f"revoked key {matches[0]}")
    return 0
