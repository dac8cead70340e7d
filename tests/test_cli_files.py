"""``siftrag collections ingest NAME --files PATH...`` in a real process: a folder (recursively) and a glob, per-file
errors beside ingested files, a re-run that changes nothing, and exit code 2 with one sentence when nothing could be
ingested."""
from __future__ import annotations

import json
from pathlib import Path

from tests import source_files as files
from tests.test_cli import siftrag


def test_ingest_a_folder_and_a_glob(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    docs = tmp_path / "docs"
    (docs / "nested").mkdir(parents=True)
    (docs / "report.pdf").write_bytes(files.three_page_report())
    (docs / "nested" / "rocks.docx").write_bytes(files.docx_bytes(["Basalt forms from cooling lava."]))
    (docs / "nested" / "page.html").write_text(files.HTML_PAGE)
    (docs / "locked.pdf").write_bytes(files.encrypted_pdf())
    (docs / ".hidden.txt").write_text("skipped")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "bees.md").write_text(files.MARKDOWN)
    (extra / "copper.txt").write_text(files.TEXT)
    assert siftrag("collections", "create", "mine", data_dir=data_dir).returncode == 0

    run = siftrag("collections", "ingest", "mine", "--files", str(docs), str(extra / "*.md"),
                  str(extra / "copper.txt"), str(tmp_path / "missing.pdf"), data_dir=data_dir)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    status = {f["name"]: f["status"] for f in result["files"]}
    assert status == {"report.pdf": "added", "locked.pdf": "failed", "rocks.docx": "added", "page.html": "added",
                      "bees.md": "added", "copper.txt": "added"}
    assert "locked.pdf: the PDF is encrypted" in run.stderr and "missing.pdf: no such file" in run.stderr

    again = siftrag("collections", "ingest", "mine", "--files", str(docs / "report.pdf"), data_dir=data_dir)
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 1


def test_nothing_ingestible_exits_2_with_a_sentence(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (tmp_path / "scan.pdf").write_bytes(files.image_only_pdf())
    assert siftrag("collections", "create", "mine", data_dir=data_dir).returncode == 0
    run = siftrag("collections", "ingest", "mine", "--files", str(tmp_path / "scan.pdf"), data_dir=data_dir)
    assert run.returncode == 2 and "No file could be ingested" in run.stderr and "Traceback" not in run.stderr
    nothing = siftrag("collections", "ingest", "mine", "--files", str(tmp_path / "*.docx"), data_dir=data_dir)
    assert nothing.returncode == 2 and "No files to ingest" in nothing.stderr
