"""The playground page (``GET /``): search with two pipelines side by side, and a streamed answer with citations.

Plain HTML, one script and one stylesheet shipped in ``api/playground/`` — no build step, nothing fetched from
elsewhere (the Content-Security-Policy allows this server only). The page calls the public API with the key the
user types in (kept in the tab's sessionStorage), so it can do nothing the API would not let that key do.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import get_args

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from api.schemas import Compressor, Retriever
from rag.answer_formats import ANSWER_FORMATS
from rerankers.registry import METHODS

router = APIRouter(include_in_schema=False)
ASSETS = Path(__file__).resolve().parents[1] / "playground"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
}
MEDIA_TYPES = {"playground.js": "text/javascript; charset=utf-8", "playground.css": "text/css; charset=utf-8",
               "favicon.svg": "image/svg+xml"}


def page_options() -> dict[str, list[str]]:
    """What the page's pickers offer: the API's own lists, so the page never names what the API refuses."""
    return {"retrievers": list(get_args(Retriever)), "rerankers": list(METHODS),
            "compressors": list(get_args(Compressor)), "answer_formats": list(ANSWER_FORMATS)}


@cache
def _page() -> bytes:
    options = json.dumps(page_options()).replace("<", "\\u003c")  # inert inside the <script> data block
    return (ASSETS / "index.html").read_text(encoding="utf-8").replace("{{OPTIONS}}", options).encode()


@router.get("/")
def playground() -> Response:
    return Response(_page(), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@router.get("/playground/{asset}")
def playground_asset(asset: str) -> Response:
    """The page's script, stylesheet and icon (only these names: nothing else on disk is reachable)."""
    if asset not in MEDIA_TYPES:
        raise HTTPException(404, f"The playground has no file '{asset[:100]}'.")
    return Response((ASSETS / asset).read_bytes(), media_type=MEDIA_TYPES[asset], headers=SECURITY_HEADERS)
