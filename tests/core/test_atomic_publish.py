"""The write-aside-then-switch helper every publisher uses: a reader sees the old artefact or the new one, whole."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.atomic_publish import publish_folder, publish_once, staging_folder, write_text_atomic, written_aside


def test_a_file_written_aside_replaces_the_old_one_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "CURRENT"
    write_text_atomic(target, "v1")
    with pytest.raises(RuntimeError), written_aside(target) as partial:
        partial.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["CURRENT"]
    write_text_atomic(target, "v2")
    assert target.read_text() == "v2" and [p.name for p in tmp_path.iterdir()] == ["CURRENT"]


def test_a_failed_build_removes_its_staging_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError), staging_folder(tmp_path) as staging:
        (staging / "part").write_text("x")
        raise ValueError("build failed")
    assert list(tmp_path.iterdir()) == []


def test_publish_switches_atomically_and_keeps_two_versions(tmp_path: Path) -> None:
    target = tmp_path / "adapter"
    (target).mkdir()
    (target / "weights").write_text("plain folder of an older publish")
    for version in ("one", "two", "three"):
        with staging_folder(tmp_path) as staging:
            (staging / "weights").write_text(version)
        publish_folder(staging, target, grace_s=0.0)
        assert (target / "weights").read_text() == version
    kept = sorted((p / "weights").read_text() for p in tmp_path.iterdir() if p.name.startswith(".adapter.v-"))
    assert kept == ["three", "two"]


def test_a_reader_never_finds_the_folder_missing_during_republishing(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with staging_folder(tmp_path) as staging:
        (staging / "weights").write_text("0")
    publish_folder(staging, target)
    misses: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                (target / "weights").read_text()
            except FileNotFoundError:
                misses.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    for version in range(1, 60):
        with staging_folder(tmp_path) as staging:
            (staging / "weights").write_text(str(version))
        publish_folder(staging, target)
    done.set()
    reader.join()
    assert misses == [] and (target / "weights").read_text() == "59"


def test_publish_once_keeps_the_first_copy_and_discards_a_later_one(tmp_path: Path) -> None:
    target = tmp_path / "converted"
    for content in ("first", "second"):
        with staging_folder(tmp_path, ".converting-") as staging:
            (staging / "config.json").write_text(content)
        publish_once(staging, target)
    assert (target / "config.json").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["converted"]


def test_a_version_outlives_quick_republishes_for_its_grace_period(tmp_path: Path) -> None:
    """A reader that resolved the link, then stalled while two publishes went by (what a loaded machine does to
    the threaded test above), still finds its version; versions retired longer than the grace period go."""
    target = tmp_path / "model"

    def publish(content: str, grace_s: float | None = None) -> None:
        with staging_folder(tmp_path) as staging:
            (staging / "weights").write_text(content)
        publish_folder(staging, target, grace_s)

    publish("0")
    resolved = target.resolve()
    publish("1")
    publish("2")
    assert (resolved / "weights").read_text() == "0"
    publish("3", grace_s=0.0)
    assert not resolved.exists() and (target / "weights").read_text() == "3"
    assert len(list(tmp_path.glob(".model.v-*"))) == 2  # the current and the previous version
