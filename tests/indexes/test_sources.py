"""Files → sources → chunks with the real converters (Haystack's PyPDF, HTML, DOCX, Markdown and text converters)
on files generated here; each bad file gets one sentence."""
from __future__ import annotations

import pytest

from core.errors import InvalidInputError
from indexes.sources.chunking import chunk_source
from indexes.sources.file_names import source_id, source_name
from indexes.sources.reading import read_source
from indexes.sources.source_file import SourceLimits
from tests import source_files as files

LIMITS = SourceLimits(max_file_bytes=5 * 2**20, max_text_chars=1_000_000)


def test_pdf_pages_chunks_and_offsets() -> None:
    source = read_source(files.three_page_report(), "reports/../../etc/report.pdf", LIMITS)
    assert (source.name, source.mime_type, len(source.pages), source.title) == ("report.pdf", "application/pdf", 3,
                                                                               "Annual report")
    assert source.source_id == source_id("report.pdf") and len(source.sha256) == 64
    chunks = chunk_source(source, words=50, overlap=10)
    assert [c.meta["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert {c.meta["page"] for c in chunks} == {1, 2, 3}
    for chunk in chunks:
        page_text = source.pages[chunk.meta["page"] - 1]
        assert page_text[chunk.meta["start"]:chunk.meta["end"]] == chunk.content
        assert chunk.id == f"{source.source_id}:{chunk.meta['chunk_index']}"
        assert chunk.meta["source_name"] == "report.pdf" and chunk.meta["source_pages"] == 3
    answer = [c for c in chunks if "Zorblax" in c.content]
    assert answer and {c.meta["page"] for c in answer} == {2}


@pytest.mark.parametrize(("data", "name", "mime", "needle", "title"), [
    (files.HTML_PAGE.encode(), "glaciers.htm", "text/html", "U-shaped valleys", "Glaciers"),
    (files.MARKDOWN.encode(), "bees.md", "text/markdown", "waggle dance", None),
    (files.TEXT.encode(), "copper.txt", "text/plain", "household wiring", None),
    (files.docx_bytes(["Basalt forms from rapidly cooling lava."], title="Rocks"), "rocks.docx",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "cooling lava", "Rocks"),
])
def test_other_formats(data: bytes, name: str, mime: str, needle: str, title: str | None) -> None:
    source = read_source(data, name, LIMITS)
    assert (source.mime_type, source.title, source.paged) == (mime, title, False)
    chunks = chunk_source(source)
    assert any(needle in c.content for c in chunks)
    assert all("page" not in c.meta for c in chunks)
    assert all(source.pages[0][c.meta["start"]:c.meta["end"]] == c.content for c in chunks)


def test_html_is_detected_by_content_not_by_name() -> None:
    assert read_source(files.HTML_PAGE.encode(), "notes.txt", LIMITS).mime_type == "text/html"
    xhtml = '<?xml version="1.0" encoding="utf-8"?>\n<!-- saved -->\n' + files.HTML_PAGE.removeprefix("<!DOCTYPE html>")
    assert read_source(xhtml.encode(), "page.xhtml", LIMITS).mime_type == "text/html"
    assert read_source(b"Plain words about <html> tags.", "tags.md", LIMITS).mime_type == "text/markdown"


@pytest.mark.parametrize(("data", "name", "phrase"), [
    (files.encrypted_pdf(), "locked.pdf", "encrypted"),
    (files.three_page_report()[:400], "cut.pdf", "could not be read"),
    (files.image_only_pdf(), "scan.pdf", "no extractable text"),
    (b"", "empty.txt", "empty"),
    (b"PK\x03\x04" + bytes(range(256)) * 4, "archive.bin", "not supported"),
    (bytes(range(256)) * 4, "noise.dat", "not recognised"),
    (b"\x1f\x8b\x08" + b"\x00" * 100, "page.html.gz", "not supported"),
    (b"x" * (LIMITS.max_file_bytes + 1), "huge.txt", "per-file limit"),
    (("<html><body>" + "<p>word word word</p>" * 80_000 + "</body></html>").encode(), "bomb.html",
     "more than the limit"),
])
def test_bad_files_get_one_sentence(data: bytes, name: str, phrase: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        read_source(data, name, LIMITS)
    message = str(raised.value)
    assert message.startswith(f"{name}: ") and phrase in message and message.endswith(".") and "\n" not in message


@pytest.mark.parametrize(("given", "expected"), [("../../etc/passwd", "passwd"), ("C:\\docs\\a.pdf", "a.pdf"),
                                                 ("dir/x\x00y.md", "xy.md"), ("plain.txt", "plain.txt")])
def test_names_are_reduced_to_base_names(given: str, expected: str) -> None:
    assert source_name(given) == expected


@pytest.mark.parametrize("given", ["", "..", "a/..", "/"])
def test_names_with_nothing_left_are_refused(given: str) -> None:
    with pytest.raises(InvalidInputError):
        source_name(given)
