"""nDCG@10 of chunk sizes on long documents: 2WikiMultihopQA's sample corpus (3,301 passages, ~70 words each)
concatenated in id order, 12 passages to a document (~840 words), split by ``chunk_source`` at each size (overlap
one fifth), indexed by bm25 (and dense with --dense), searched with the 500 dev questions; a document's score is its
best chunk's (top 200 chunks per question), relevance is the qrels' passages mapped to their documents.

    python benchmarks/bench_chunk_sizes.py [--sizes 50 100 150 300] [--per-doc 12] [--dense]
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

DATA = REPO / "data/sample/2wikimultihopqa"


def read_gz_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def long_documents(per_doc: int) -> tuple[dict[str, str], dict[str, str]]:
    """(document id → text, passage id → document id)."""
    passages = sorted(read_gz_jsonl(DATA / "corpus.jsonl.gz"), key=lambda p: p["_id"])
    texts, owner = {}, {}
    for start in range(0, len(passages), per_doc):
        doc_id = f"doc{start // per_doc:04d}"
        group = passages[start:start + per_doc]
        texts[doc_id] = "\n\n".join(f"{p['title']}. {p['text']}" for p in group)
        owner.update({p["_id"]: doc_id for p in group})
    return texts, owner


def qrels(owner: dict[str, str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with gzip.open(DATA / "qrels/dev500.tsv.gz", "rt") as handle:
        next(handle)
        for line in handle:
            qid, pid, score = line.rstrip("\n").split("\t")
            if int(score) > 0 and pid in owner:
                out.setdefault(qid, {})[owner[pid]] = 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 150, 300])
    parser.add_argument("--per-doc", type=int, default=12)
    parser.add_argument("--dense", action="store_true")
    with scratch_data_dir():
        run(parser.parse_args())


def run(args: argparse.Namespace) -> None:
    import ir_measures
    from ir_measures import nDCG

    from indexes.retriever import collection_manager
    from indexes.sources.chunking import chunk_source
    from indexes.sources.source_catalog import replace_sources
    from indexes.sources.source_file import SourceFile

    texts, owner = long_documents(args.per_doc)
    relevant = qrels(owner)
    questions = {q["_id"]: q["question"] for q in read_gz_jsonl(DATA / "questions.dev500.jsonl.gz")
                 if q["_id"] in relevant}
    qids = sorted(questions)
    kinds = ["bm25"] + (["dense"] if args.dense else [])
    print(f"{len(texts)} documents of ~{sum(len(t.split()) for t in texts.values()) // len(texts)} words, "
          f"{len(qids)} questions")
    for size in args.sizes:
        collection = collection_manager().create(f"chunks-{size}", "")
        chunks = {doc_id: chunk_source(SourceFile(name=doc_id, source_id=doc_id, mime_type="text/plain",
                                                  size=len(text), sha256=doc_id, pages=[text]),
                                       words=size, overlap=size // 5)
                  for doc_id, text in texts.items()}
        replace_sources(collection.store, chunks)
        line = [f"{size:>4} words: {sum(len(c) for c in chunks.values()):>5} chunks"]
        for kind in kinds:
            began = time.perf_counter()
            collection.build(kind, {})
            build_s = time.perf_counter() - began
            run_scores: dict[str, dict[str, float]] = {}
            for qid, hits in zip(qids, collection.search(kind, [questions[q] for q in qids], top_k=200)):
                best: dict[str, float] = {}
                for rank, hit in enumerate(hits):
                    doc = hit.meta["source_id"]
                    best.setdefault(doc, -rank)  # the best chunk's rank orders the documents
                run_scores[qid] = {doc: float(score) for doc, score in best.items()}
            value = ir_measures.calc_aggregate([nDCG @ 10], relevant, run_scores)[nDCG @ 10]
            line.append(f"{kind} nDCG@10 {value:.4f} (build {build_s:.1f} s)")
        print(", ".join(line), flush=True)


if __name__ == "__main__":
    main()
