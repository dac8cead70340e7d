"""A clone tests itself: tests, README commands, docs and scripts read only what the repository holds (nothing
from a folder beside the checkout), and every sample dataset they read carries its licence note."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO, SAMPLE_DATA

OUTSIDE = ("../" + "shared", "shared/" + "data", "shared/" + "DESIGN")  # split: this file must not match itself
SCANNED = [REPO / "README.md", *(p for folder in ("tests", "docs", "scripts") for p in (REPO / folder).rglob("*")
                                 if p.is_file() and p.suffix in {".py", ".md", ".sh", ".txt", ".toml", ""})]


def test_nothing_reads_outside_the_repository() -> None:
    found = [f"{path.relative_to(REPO)}:{number}" for path in SCANNED if path != Path(__file__)
             for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if any(marker in line for marker in OUTSIDE)]
    assert not found, "references outside the repository: " + ", ".join(found)


def test_every_sample_dataset_has_a_licence_note() -> None:
    folders = [p for p in SAMPLE_DATA.iterdir() if p.is_dir()]
    assert {"scifact", "strategyqa", "2wikimultihopqa", "trec-dl-2019", "trec-dl-2020", "trec-covid"} <= {
        p.name for p in folders}
    assert all((folder / "LICENSE.md").is_file() for folder in folders)
    assert (REPO / "docs" / "architecture.md").is_file()
