"""The ceiling `api_load.py --baseline` compares flatnas with: the essential work of GET and POST
/searches and nothing else (key row by id, search row by id, ~1 KB of JSON; a POST inserts a row
and pushes one Redis message), one psycopg 3 pool, served by the same uvicorn."""

import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
from fastapi import FastAPI, Header, HTTPException
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

pool = ConnectionPool(os.environ["BARE_DATABASE_URL"], min_size=16, max_size=16, open=True)
broker = redis.Redis.from_url(os.environ["BARE_REDIS_URL"])
COLUMNS = ("id", "name", "status", "method", "space", "dataset", "tags", "priority", "spec", "created_at")
app = FastAPI()


def owner(conn: Any, authorization: str) -> str:
    token = authorization.removeprefix("Bearer ")
    row = conn.execute("SELECT hashed_key, revoked_at FROM api_key WHERE id = %s", (token.split("_")[1],))
    found = row.fetchone()
    if found is None or found[1] is not None:
        raise HTTPException(401)
    if not hmac.compare_digest(found[0], hashlib.sha256(token.encode()).hexdigest()):
        raise HTTPException(401)
    return token.split("_")[1]


@app.get("/healthz", response_model=None)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/searches/{search_id}", response_model=None)
def get_search(search_id: str, authorization: str = Header()) -> dict[str, Any]:
    with pool.connection() as conn:
        owner(conn, authorization)
        row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM search WHERE id = %s", (search_id,)).fetchone()
    if row is None:
        raise HTTPException(404)
    return dict(zip(COLUMNS, row, strict=True))


@app.post("/searches", status_code=201, response_model=None)
def create_search(spec: dict[str, Any], authorization: str = Header()) -> dict[str, Any]:
    row = (str(uuid.uuid4()), spec["name"], "queued", spec["method"], spec["space"])
    row += (spec["dataset"]["name"], Jsonb(spec.get("tags", [])), 5, Jsonb(spec), datetime.now(UTC))
    with pool.connection() as conn:
        key_id = owner(conn, authorization)
        conn.execute(
            f"INSERT INTO search ({', '.join(COLUMNS)}, cancel_requested, attempts, owner_key_id) "
            f"VALUES ({', '.join(['%s'] * len(COLUMNS))}, false, 0, %s)",
            (*row, key_id),
        )
    broker.lpush(os.environ["BARE_QUEUE"], json.dumps({"search_id": row[0]}))
    return dict(zip(COLUMNS, row[:6] + (spec.get("tags", []), 5, spec, row[-1]), strict=True))
