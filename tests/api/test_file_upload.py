"""``POST /v1/collections/{name}/files`` (multipart) through the real app and the embedded runner: a folder's worth
of real files (two multi-page PDFs, HTML, DOCX, Markdown, text) plus bad ones in one upload, the cross-site guard on
multipart, sources listed and deleted, and a search that cites the PDF's page."""
from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from core.settings import get_settings
from tests import source_files as files

OWN = {"Origin": "http://127.0.0.1"}


class Client:
    """httpx against the ASGI app on an event loop of its own (the loopback client of the embedded default)."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 5000))
        self.inner = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=300)

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self.loop.run_until_complete(self.inner.request(method, url, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.inner.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def client(built_slice) -> Iterator[Client]:
    client = Client()
    yield client
    client.close()


@pytest.fixture
def collection(client) -> Iterator[str]:
    name = f"upload-{time.time_ns()}"
    assert client.request("POST", "/v1/collections", json={"name": name}).status_code == 201
    yield name
    client.request("DELETE", f"/v1/collections/{name}")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    """Set SIFTRAG_* variables for one test (the cached settings rebuilt after each change and at the end)."""
    def set_env(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()


def finished(client: Client, job_id: str) -> dict:
    deadline = time.time() + 300
    while time.time() < deadline:
        job = client.request("GET", f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            assert job["state"] == "succeeded", job
            return job["result"]
        time.sleep(0.1)
    raise AssertionError("the ingest job did not finish in 300 s")


def upload(client: Client, collection: str, parts: list[tuple[str, bytes]], headers=OWN) -> httpx.Response:
    return client.request("POST", f"/v1/collections/{collection}/files", headers=headers,
                          files=[("files", (name, data, "application/octet-stream")) for name, data in parts])


GOOD = [("report.pdf", files.three_page_report()),
        ("manual.pdf", files.pdf_bytes([files.filler("pumps", 200), files.filler("valves", 200)])),
        ("glaciers.html", files.HTML_PAGE.encode()), ("rocks.docx", files.docx_bytes(["Basalt is volcanic."])),
        ("bees.md", files.MARKDOWN.encode()), ("copper.txt", files.TEXT.encode())]


def test_good_and_bad_files_in_one_upload_then_search_cites_the_page(client, collection, env) -> None:
    env(SIFTRAG_MAX_FILE_BYTES=str(2**20), SIFTRAG_MAX_SOURCE_CHARS="200000")
    bad = [("locked.pdf", files.encrypted_pdf()), ("cut.pdf", files.three_page_report()[:300]),
           ("scan.pdf", files.image_only_pdf()), ("empty.txt", b""), ("tool.exe", b"MZ" + bytes(range(256)) * 8),
           ("big.txt", b"a " * 2**20),
           ("bomb.html", ("<html><body>" + "<p>x y</p>" * 60_000 + "</body></html>").encode()),
           ("../../../etc/evil.md", b"# Evil\n\nA name that tries to climb out of the folder.\n")]
    response = upload(client, collection, GOOD + bad)
    assert response.status_code == 202, response.text
    result = finished(client, response.json()["id"])
    outcome = {f["name"]: f for f in result["files"]}
    assert {name for name, f in outcome.items() if f["status"] == "added"} == {n for n, _ in GOOD} | {"evil.md"}
    failed = {name: f["error"] for name, f in outcome.items() if f["status"] == "failed"}
    assert set(failed) == {"locked.pdf", "cut.pdf", "scan.pdf", "empty.txt", "tool.exe", "big.txt", "bomb.html"}
    assert all(error.startswith(f"{name}: ") for name, error in failed.items())
    assert not list(get_settings().data_dir.rglob("evil.md"))  # a name is metadata, never a path

    sources = client.request("GET", f"/v1/collections/{collection}/sources").json()["sources"]
    assert {s["name"] for s in sources} == {n for n, _ in GOOD} | {"evil.md"}
    assert all(s["chunks"] >= 1 for s in sources)
    assert next(s for s in sources if s["name"] == "report.pdf")["pages"] == 3

    build = client.request("POST", f"/v1/collections/{collection}/indexes/bm25:build", json={})
    finished(client, build.json()["id"])
    body = client.request("POST", "/v1/search", json={"collection": collection, "queries": [
        "Where was the Zorblax turbine installed?"], "top_k": 3}).json()
    top = body["results"][0]["documents"][0]
    assert (top["meta"]["source_name"], top["meta"]["page"]) == ("report.pdf", 2), top
    assert "Zorblax" in top["content"] and top["meta"]["end"] > top["meta"]["start"]

    evil = next(s for s in sources if s["name"] == "evil.md")
    deleted = client.request("DELETE", f"/v1/collections/{collection}/sources/{evil['id']}", headers=OWN)
    assert deleted.status_code == 200 and deleted.json()["deleted_chunks"] == evil["chunks"]
    assert client.request("DELETE", f"/v1/collections/{collection}/sources/{evil['id']}").status_code == 404


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 403),  # a cross-site form from an old browser sends neither header: refused
    ({"Origin": "http://evil.example"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Origin": "null"}, 403),
    ({"Sec-Fetch-Site": "same-origin"}, 202),
    (OWN, 202),
])
def test_the_cross_site_guard_refuses_multipart_from_a_foreign_page(client, collection, headers, status) -> None:
    response = upload(client, collection, [("copper.txt", files.TEXT.encode())], headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert client.request("GET", f"/v1/collections/{collection}/sources").json()["sources"] == []
    else:
        finished(client, response.json()["id"])


def test_an_upload_with_no_usable_file_is_a_422_and_multipart_elsewhere_a_415(client, collection) -> None:
    response = upload(client, collection, [("scan.pdf", files.image_only_pdf()), ("empty.txt", b"")])
    assert response.status_code == 422 and "No file could be ingested" in response.json()["detail"]
    assert "scan.pdf: " in response.json()["detail"] and "empty.txt: " in response.json()["detail"]
    elsewhere = client.request("POST", f"/v1/collections/{collection}/documents", headers=OWN,
                               files=[("files", ("a.txt", b"x", "text/plain"))])
    assert elsewhere.status_code == 415


def test_the_request_body_limit_is_a_413(client, collection, env) -> None:
    env(SIFTRAG_MAX_FILES_BODY_BYTES="5000")
    response = upload(client, collection, [("copper.txt", b"copper " * 2000)])
    assert response.status_code == 413


def test_answers_and_chat_cite_the_file_and_page(client, collection) -> None:
    """The answer sentence is on page 2 of a 3-page PDF: the top passage of /v1/answer and of the chat completion's
    citations name that file and page (citations carry ``source``; the LLM's own [n] choice is not asserted)."""
    finished(client, upload(client, collection, [("report.pdf", files.three_page_report()),
                                                 ("copper.txt", files.TEXT.encode())]).json()["id"])
    finished(client, client.request("POST", f"/v1/collections/{collection}/indexes/bm25:build", json={}).json()["id"])
    question = "Where was the Zorblax turbine installed?"
    answer = client.request("POST", "/v1/answer", json={"collection": collection, "question": question, "top_k": 2,
                                                         "max_new_tokens": 24})
    assert answer.status_code == 200, answer.text
    top = answer.json()["passages"][0]
    assert top["source"]["name"] == "report.pdf" and top["source"]["page"] == 2 and "Zorblax" in top["content"]
    assert top["content"] == files.three_page_text(2)[top["source"]["start"]:top["source"]["end"]]
    assert all(c["source"] is not None for c in answer.json()["citations"])
    chat = client.request("POST", "/v1/chat/completions", json={
        "model": f"rag:{collection}", "messages": [{"role": "user", "content": question}], "max_tokens": 24,
        "top_k": 2, "answer_format": "free"})
    assert chat.status_code == 200, chat.text
    cited = chat.json()["choices"][0]["message"]["citations"]
    assert all(c["source"]["name"] in ("report.pdf", "copper.txt") for c in cited)
