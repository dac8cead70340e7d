"""A failed or killed build leaves the previous version live and no staging folder behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from haystack import Document

from core.errors import InvalidInputError
from indexes.retriever import collection_manager
from tests.conftest import REPO


def test_failed_build_keeps_previous_version(built_slice) -> None:
    versions = built_slice.versions("dense")
    live = versions.current()
    with pytest.raises(InvalidInputError, match="index_type"):
        built_slice.build("dense", {"index_type": "bogus"})
    assert versions.current() == live
    assert not list(versions.kind_dir.glob("staging-*"))
    assert built_slice.search("dense", ["protein folding"], top_k=3)[0]


def test_empty_collection_cannot_be_built() -> None:
    collection = collection_manager().create("empty-one")
    with pytest.raises(InvalidInputError, match="no documents"):
        collection.build("bm25")
    assert collection.versions("bm25").current() is None


def test_killed_build_leaves_live_index_serving(data_dir: Path) -> None:
    collection = collection_manager().create("killme")
    passages = [Document(id=f"d{i}", content=f"passage number {i} about topic {i % 7}") for i in range(2200)]
    collection.store.upsert(passages[:200])
    live = collection.build("dense")
    collection.store.upsert(passages[200:])
    script = "from indexes.retriever import collection_manager\ncollection_manager().get('killme').build('dense')\n"
    env = {**os.environ, "SIFTRAG_DATA_DIR": str(data_dir), "SIFTRAG_EMBEDDING_BATCH_SIZE": "4"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    kind_dir = collection.root / "indexes" / "dense"
    deadline = time.time() + 120
    while time.time() < deadline and not list(kind_dir.glob("staging-*")):
        assert process.poll() is None, "build finished before it could be killed"
        time.sleep(0.05)
    time.sleep(0.5)
    assert process.poll() is None, "build finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert collection.versions("dense").current() == live
    hits = collection.search("dense", ["topic 3"], top_k=3)[0]
    assert hits and all(int(d.id[1:]) < 200 for d in hits)


def test_quick_rebuilds_keep_the_live_and_the_previous_version() -> None:
    collection = collection_manager().create("quick-rebuilds")
    collection.store.upsert([Document(id="a", content="one small passage")])
    built = [collection.build("bm25") for _ in range(4)]  # several within one second
    assert built == sorted(built)
    assert collection.versions("bm25").list() == built[-2:] and collection.versions("bm25").current() == built[-1]
