"""A benchmark's own data dir: a temporary ``SIFTRAG_DATA_DIR`` for the block, removed after it."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_data_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["SIFTRAG_DATA_DIR"] = data_dir
        yield data_dir
