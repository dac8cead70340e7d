"""Each test run (one pytest process) gets a Redis database of its own on the local server, claimed atomically, so
two runs on one machine never flush each other's queues, jobs or locks."""
from __future__ import annotations

import os
import uuid
from functools import cache

import redis

SERVER = "redis://127.0.0.1:6379"
CLAIM_KEY = "siftrag-test-run"  # in each claimed database: which run holds it
CLAIM_TTL_S = 12 * 3600  # a crashed run's database is free again after this
# 0 is a deployment's default; 13 is the database that older checkouts' tests flush unconditionally.
CANDIDATES = [n for n in range(15, 0, -1) if n != 13]
RUN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


@cache
def run_redis_url() -> str:
    """This run's database (claimed on first use, emptied once claimed): ``redis://127.0.0.1:6379/N``."""
    for number in CANDIDATES:
        url = f"{SERVER}/{number}"
        with redis.Redis.from_url(url) as client:
            if client.set(CLAIM_KEY, RUN, nx=True, ex=CLAIM_TTL_S):
                _flush_keeping_claim(client)
                return url
    raise RuntimeError(f"Every test database of {SERVER} ({CANDIDATES}) is held by another run.")


def reset_run_redis() -> None:
    """Empty this run's database (what a test module does before starting its services); the claim stays."""
    with redis.Redis.from_url(run_redis_url()) as client:
        _flush_keeping_claim(client)


def release_run_redis() -> None:
    """At the end of the run: empty the database and give it back, if this run claimed one and still holds it."""
    if not run_redis_url.cache_info().currsize:
        return
    with redis.Redis.from_url(run_redis_url()) as client:
        if client.get(CLAIM_KEY) == RUN.encode():
            client.flushdb()
    run_redis_url.cache_clear()


def _flush_keeping_claim(client: redis.Redis) -> None:
    """FLUSHDB and the claim re-set in one transaction: no other run can claim the database in between."""
    with client.pipeline(transaction=True) as pipe:
        pipe.flushdb().set(CLAIM_KEY, RUN, ex=CLAIM_TTL_S).execute()
