"""Throughput of users' PDFs: pages/s of Haystack's ``PyPDFToDocument`` called directly, beside our conversion
(type detection, encryption check, the same converter, size checks), plus chunking, the document store and the
bm25 and dense index builds, in one process on the same generated PDFs (SciFact abstracts, fpdf2).

    python benchmarks/bench_documents.py [--pdfs 8] [--pages 12] [--repeats 3] [--no-dense]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from benchmarks.scratch_data_dir import scratch_data_dir


def abstracts() -> list[str]:
    with gzip.open(REPO / "data/sample/scifact/corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def make_pdfs(count: int, pages: int) -> list[bytes]:
    """``count`` PDFs of ``pages`` pages, each page three SciFact abstracts (~600 words)."""
    from fpdf import FPDF

    texts = abstracts()
    out = []
    for n in range(count):
        pdf = FPDF()
        pdf.set_font("helvetica", size=10)
        for p in range(pages):
            pdf.add_page()
            start = (n * pages + p) * 3
            body = "\n\n".join(texts[start:start + 3])
            pdf.multi_cell(0, 5, body.encode("latin-1", "replace").decode("latin-1"))
        out.append(bytes(pdf.output()))
    return out


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pdfs", type=int, default=8)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dense", action="store_true")
    with scratch_data_dir():
        run(parser.parse_args())


def run(args: argparse.Namespace) -> None:
    from haystack.components.converters import PyPDFToDocument
    from haystack.dataclasses import ByteStream

    from indexes.retriever import collection_manager
    from indexes.sources.chunking import chunk_source
    from indexes.sources.reading import read_source
    from indexes.sources.source_catalog import replace_sources
    from indexes.sources.source_file import SourceLimits

    pdfs = make_pdfs(args.pdfs, args.pages)
    pages = args.pdfs * args.pages
    limits = SourceLimits(max_file_bytes=2**30, max_text_chars=10**8)
    converter = PyPDFToDocument()
    haystack_s = best_of(args.repeats, lambda: [converter.run(sources=[ByteStream(data=d)]) for d in pdfs])
    ours_s = best_of(args.repeats, lambda: [read_source(d, f"f{i}.pdf", limits) for i, d in enumerate(pdfs)])
    sources = [read_source(d, f"f{i}.pdf", limits) for i, d in enumerate(pdfs)]
    chunk_s = best_of(args.repeats, lambda: [chunk_source(s) for s in sources])
    chunks = {s.source_id: chunk_source(s) for s in sources}
    collection = collection_manager().create("bench-documents", "")
    began = time.perf_counter()
    replace_sources(collection.store, chunks)
    store_s = time.perf_counter() - began
    builds = {}
    for kind in ["bm25"] + ([] if args.no_dense else ["dense"]):
        began = time.perf_counter()
        collection.build(kind, {})
        builds[kind] = time.perf_counter() - began
    no_dense = ours_s + chunk_s + store_s + builds["bm25"]
    n_chunks = sum(len(c) for c in chunks.values())
    print(f"{args.pdfs} PDFs x {args.pages} pages = {pages} pages, {n_chunks} chunks (best of {args.repeats})")
    print(f"Haystack PyPDFToDocument directly : {pages / haystack_s:8.1f} pages/s")
    print(f"siftrag conversion (read_source)  : {pages / ours_s:8.1f} pages/s   ratio {ours_s / haystack_s:.2f}x")
    print(f"chunking (DocumentSplitter)       : {pages / chunk_s:8.1f} pages/s")
    print(f"document store (one transaction)  : {pages / store_s:8.1f} pages/s")
    for kind, seconds in builds.items():
        print(f"{kind + ' build':<34}: {pages / seconds:8.1f} pages/s")
    print(f"{'conversion+chunks+store+bm25':<34}: {pages / no_dense:8.1f} pages/s")
    if "dense" in builds:
        print(f"{'... + dense':<34}: {pages / (no_dense + builds['dense']):8.1f} pages/s")


if __name__ == "__main__":
    main()
