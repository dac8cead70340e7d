"""Two test runs on one machine use different Redis databases: one run's reset never empties the other's."""
from __future__ import annotations

import subprocess
import sys

import redis

from tests.conftest import REPO
from tests.redis_db import CLAIM_KEY, reset_run_redis, run_redis_url

OTHER_RUN = """
import sys, redis
from tests.redis_db import release_run_redis, reset_run_redis, run_redis_url
url = run_redis_url()
reset_run_redis()
redis.Redis.from_url(url).set("job", "theirs")
print(url, flush=True)
sys.stdin.readline()  # hold the database until told to finish
print(redis.Redis.from_url(url).get("job").decode(), flush=True)
release_run_redis()
"""


def test_a_second_run_claims_another_database_and_keeps_its_keys() -> None:
    ours = run_redis_url()
    other = subprocess.Popen([sys.executable, "-c", OTHER_RUN], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        theirs = other.stdout.readline().strip()
        assert theirs.startswith("redis://127.0.0.1:6379/") and theirs != ours
        assert not theirs.endswith("/13") and not ours.endswith("/13")  # older checkouts flush 13 unconditionally
        reset_run_redis()  # what each of our service test modules does first
        redis.Redis.from_url(ours).set("job", "ours")
        out, _ = other.communicate("done\n", timeout=60)
    finally:
        other.kill()
    assert out.split() == ["theirs"]  # our reset did not touch their database
    assert redis.Redis.from_url(ours).get("job") == b"ours"
    assert redis.Redis.from_url(theirs).dbsize() == 0 and not redis.Redis.from_url(theirs).exists(CLAIM_KEY)
