"""The ``ingest_files`` job on the embedded runner with real files: per-file outcomes, a bad file beside good ones,
re-ingest by name (same sha256: unchanged; new sha256: replaced, no orphan chunks) and delete by source."""
from __future__ import annotations

import time

import pytest

from core.errors import InvalidInputError, NotFoundError
from indexes.retriever import collection_manager
from indexes.sources.file_names import source_id
from indexes.sources.source_catalog import delete_source, stored_sources
from tests import source_files as files
from workers.file_staging import IncomingFile, stage_files
from workers.runner import job_runner


def incoming(name: str, data: bytes) -> IncomingFile:
    return IncomingFile(name=name, size=len(data), read=lambda: data)


def finished(job_id: str) -> dict:
    store = job_runner().store
    deadline = time.time() + 300
    while time.time() < deadline:
        job = store.get(job_id)
        if job.state.finished:
            assert job.state.value == "succeeded", job.error
            return job.result
        time.sleep(0.1)
    raise AssertionError("the ingest job did not finish in 300 s")


@pytest.fixture()
def collection():
    name = f"files-{time.time_ns()}"
    collection_manager().create(name, "")
    yield collection_manager().get(name)
    collection_manager().delete(name)


def test_good_files_land_beside_bad_ones(collection) -> None:
    upload = [incoming("report.pdf", files.three_page_report()), incoming("notes.md", files.MARKDOWN.encode()),
              incoming("locked.pdf", files.encrypted_pdf()), incoming("../../etc/empty.txt", b""),
              incoming("again/notes.md", files.TEXT.encode())]
    result = finished(stage_files(collection.name, upload).id)
    statuses = {(f["name"], f["status"]) for f in result["files"]}
    assert statuses == {("report.pdf", "added"), ("notes.md", "added"), ("locked.pdf", "failed"),
                        ("empty.txt", "failed"), ("notes.md", "failed")}
    assert (result["added"], result["failed"]) == (2, 3)
    errors = [f["error"] for f in result["files"] if f["status"] == "failed"]
    assert any("encrypted" in e for e in errors) and any("same name" in e for e in errors)
    sources = stored_sources(collection.store)
    assert set(sources) == {source_id("report.pdf"), source_id("notes.md")}
    assert sources[source_id("report.pdf")].listing()["pages"] == 3


def test_reingest_replaces_or_keeps_and_delete_removes(collection) -> None:
    pdf = files.pdf_bytes(["alpha " * 400] * 3)
    first = finished(stage_files(collection.name, [incoming("r.pdf", pdf)]).id)
    assert first["files"][0]["status"] == "added" and first["files"][0]["chunks"] > 4
    same = finished(stage_files(collection.name, [incoming("r.pdf", pdf)]).id)
    assert same["files"][0]["status"] == "unchanged"
    revision = collection.store.revision
    shorter = finished(stage_files(collection.name, [incoming("r.pdf", files.pdf_bytes(["beta gamma"]))]).id)
    assert shorter["files"][0] | {"status": "replaced", "chunks": 1} == shorter["files"][0]
    assert collection.store.revision == revision + 1
    documents = list(collection.store.iter_documents())
    assert [d.content for d in documents] == ["beta gamma"]  # no orphan chunk of the longer version is left
    assert delete_source(collection.store, source_id("r.pdf")) == 1 and collection.store.count() == 0
    with pytest.raises(NotFoundError):
        delete_source(collection.store, source_id("r.pdf"))


def test_an_upload_without_any_good_file_is_refused(collection) -> None:
    with pytest.raises(InvalidInputError, match=r"No file could be ingested\. scan\.pdf: .*no extractable text"):
        stage_files(collection.name, [incoming("scan.pdf", files.image_only_pdf())])
