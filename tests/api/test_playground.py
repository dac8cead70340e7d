"""The playground page (GET /) in Debian's Chromium, headless, driven by Playwright against a real uvicorn: a
side-by-side search (bm25 vs bm25>first) and a streamed answer whose citations the test reads off the page.
A screenshot is saved in test-artifacts/ (or $SIFTRAG_TEST_ARTIFACTS)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.service_processes import start_api, stop

PORT = 8736
QUESTION = "Does vitamin D deficiency affect bone health?"
CHROMIUM = Path(os.environ.get("SIFTRAG_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("SIFTRAG_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def server(built_slice, data_dir: Path):
    process = start_api(data_dir, PORT)
    yield f"http://127.0.0.1:{PORT}"
    stop(process)


def test_the_page_and_its_assets_are_served_with_a_strict_policy(server: str) -> None:
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    options = json.loads(page.text.split('id="options">', 1)[1].split("</script>", 1)[0])
    assert {"first", "icr", "tilde"} <= set(options["rerankers"]) and "hybrid" in options["retrievers"]
    assert "http" not in page.text.replace("http-equiv", ""), "no external asset"
    script = httpx.get(f"{server}/playground/playground.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text, "server values reach the page as text only"
    assert "no file" in httpx.get(f"{server}/playground/index.html").json()["detail"]
    for name in ("index.html", "..%2Fapp.py", "%2e%2e%2fschemas.py", "../routers/playground.py"):
        assert httpx.get(f"{server}/playground/{name}").status_code == 404


def test_reranked_results_carry_their_first_stage_rank_and_score(server: str) -> None:
    body = {"collection": "slice", "query": "vitamin D and bone fractures", "top_k": 3, "rerank": "tilde",
            "candidates": 10}
    reranked = httpx.post(f"{server}/v1/search", json=body, timeout=60).json()["results"][0]["documents"]
    first = httpx.post(f"{server}/v1/search", json={**body, "rerank": None, "top_k": 10}).json()["results"][0]
    by_id = {d["id"]: (rank, d["score"]) for rank, d in enumerate(first["documents"], start=1)}
    assert [(d["first_stage_rank"], d["first_stage_score"]) for d in reranked] == [by_id[d["id"]] for d in reranked]
    assert "first_stage_rank" not in first["documents"][0]


def test_search_side_by_side_and_a_streamed_answer_with_clickable_citations(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), f"Chromium is needed at {CHROMIUM}: `apt-get install chromium` (scripts/test.sh does)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{server}/")
        expect(page.locator("#collection option[value=slice]")).to_have_count(1)
        page.select_option("#collection", "slice")

        page.fill("#query", "vitamin D and bone fractures")
        page.fill("#top-k", "4")
        page.fill("#candidates", "8")
        columns = page.locator(".column")
        columns.nth(1).locator(".rerank").select_option("first")
        page.click("#search-button")
        for side in (0, 1):
            expect(columns.nth(side).locator(".hit")).to_have_count(4, timeout=120_000)
        assert "first stage #" in columns.nth(1).locator(".hit").first.inner_text()
        assert "forward passes" in columns.nth(1).locator(".summary").inner_text()
        assert columns.nth(0).locator(".first-stage").count() == 0

        page.evaluate("""() => {  // count the updates of the answer text: a streamed answer grows in steps
            window.answerUpdates = 0;
            new MutationObserver(() => window.answerUpdates++).observe(
                document.getElementById('answer-output'), {childList: true, characterData: true, subtree: true});
        }""")
        page.fill("#question", QUESTION)
        page.fill("#answer-top-k", "3")
        assert page.locator("#answer-format").input_value() == "short"  # the shipped reader cites its passages
        page.click("#answer-button")
        expect(page.locator("#answer-final")).to_contain_text("Answer:", timeout=120_000)
        assert page.evaluate("window.answerUpdates") > 1, "the answer arrived token by token"
        citations = page.locator("a.citation")
        assert citations.count() >= 1, page.locator("#answer-output").inner_text()
        passages = page.locator("#passages li")
        assert passages.count() == 3
        for n in range(citations.count()):
            target = citations.nth(n).get_attribute("href")
            assert page.locator(f"{target}").count() == 1, f"{target} names a passage on the page"
        citations.first.click()
        first_target = citations.first.get_attribute("href")
        assert page.evaluate("location.hash") == first_target
        assert page.locator(f"{first_target}").evaluate("e => e.matches(':target')")
        page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
        browser.close()
    assert not problems, problems


@pytest.fixture
def worker(data_dir: Path):
    """A Celery worker beside the server (the page's upload is an ingest job)."""
    from tests.service_processes import start_worker

    process = start_worker(data_dir, concurrency=1)
    yield process
    stop(process)


def test_files_uploaded_from_the_page_are_ingested_and_cited_by_page(server: str, worker) -> None:
    """The upload box posts multipart with the page's own Origin (the cross-site guard's proof) and the key typed
    in; the per-file outcomes appear, and a search lists the PDF's chunk as "report.pdf, page 2"."""
    from playwright.sync_api import expect, sync_playwright

    from tests import source_files as files
    from tests.service_processes import API_KEY, wait_for_job

    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}, timeout=120) as api:
        assert api.post("/v1/collections", json={"name": "page-uploads"}).status_code == 201
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(f"{server}/")
            page.fill("#api-key", API_KEY)
            page.dispatch_event("#api-key", "change")
            expect(page.locator("#collection option[value=page-uploads]")).to_have_count(1)
            page.select_option("#collection", "page-uploads")
            page.set_input_files("#upload-files", files=[
                {"name": "report.pdf", "mimeType": "application/pdf", "buffer": files.three_page_report()},
                {"name": "locked.pdf", "mimeType": "application/pdf", "buffer": files.encrypted_pdf()}])
            page.click("#upload-button")
            expect(page.locator("#upload-status")).to_contain_text("added", timeout=120_000)
            outcomes = page.locator("#upload-outcomes li")
            assert outcomes.count() == 2, page.locator("#upload-status").inner_text()
            assert "report.pdf: added" in outcomes.nth(0).inner_text()
            assert "locked.pdf: the PDF is encrypted" in outcomes.nth(1).inner_text()

            assert wait_for_job(api, api.post("/v1/collections/page-uploads/indexes/bm25:build").json()["id"])[
                "state"] == "succeeded"
            columns = page.locator(".column")
            columns.nth(1).locator(".rerank").select_option("none")
            page.fill("#query", "Zorblax turbine Trondheim")
            page.fill("#top-k", "1")
            page.click("#search-button")
            expect(columns.nth(0).locator(".hit .title")).to_have_text("report.pdf, page 2", timeout=120_000)
            browser.close()
        assert not problems, problems
        assert api.delete("/v1/collections/page-uploads").status_code == 204
