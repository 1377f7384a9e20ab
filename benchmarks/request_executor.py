"""CPU per request of the store work on a plain autocommit Connection against an autocommit ORM
Session: the measurement behind the request idiom's rule (docs/architecture.md, "A request's way to
the database") that the two hottest routes run on a Connection and Core-only repository functions
take one.

Each round times, with `time.process_time()`, N repetitions of what the hot routes do with the
database: the key check (`keys.authenticate`) and a search's detail (`searches.get_view`), and in
the second table also the submit's INSERT (`searches.insert_search`). The two ways alternate
order each round. It uses a fresh PostgreSQL database (benchmarks/api_load.py's), dropped after.

    .venv/bin/python benchmarks/request_executor.py [--rounds 6] [--repeat 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.api_load import SPEC, machine, private_database  # noqa: E402
from store.db import Database  # noqa: E402
from store.repositories import keys, searches  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--repeat", type=int, default=1000)
    args = p.parse_args()
    print(f"machine: {machine()}")
    with private_database() as (url, token, _queue, pg_version):
        print(f"PostgreSQL {pg_version}; {args.rounds} rounds × {args.repeat} requests; CPU ms per request")
        database = Database(url)
        owner = token.split("_", 2)[1]
        with database.session() as session:
            search_id = searches.create_search(session, spec=SPEC, owner_key_id=owner).id
            session.commit()

        def on_connection(insert: bool) -> None:
            with database.autocommit_engine.connect() as connection:
                keys.authenticate(connection, token)
                searches.get_view(connection, search_id)
                if insert:
                    searches.insert_search(connection, spec=SPEC, owner_key_id=owner)

        def on_session(insert: bool) -> None:
            with database.reader() as session:
                connection = session.connection()
                keys.authenticate(connection, token)
                searches.get_view(connection, search_id)
                if insert:
                    searches.insert_search(connection, spec=SPEC, owner_key_id=owner)

        ways: dict[str, Callable[[bool], None]] = {"connection": on_connection, "session": on_session}
        for insert in (False, True):
            times: dict[str, list[float]] = {name: [] for name in ways}
            for r in range(args.rounds):
                for name in sorted(ways, reverse=r % 2 == 1):
                    for _ in range(50):  # warm the statement caches and the pool
                        ways[name](insert)
                    start = time.process_time()
                    for _ in range(args.repeat):
                        ways[name](insert)
                    times[name].append((time.process_time() - start) / args.repeat * 1e3)
            what = "key + detail + INSERT" if insert else "key + detail"
            for name, values in times.items():
                rounds = ", ".join(f"{v:.3f}" for v in values)
                print(f"{what:22} {name:10} median {statistics.median(values):.3f}  ({rounds})")
        database.dispose()


if __name__ == "__main__":
    main()
