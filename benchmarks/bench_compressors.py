"""Compressor speed and size on 2WikiMultihopQA, each beside its baseline measured in the same run.

    python benchmarks/bench_compressors.py [--dataset ../shared/data/2wikimultihopqa] [--sentences 60]
        [--questions 3] [--k 5 10 20 40] [--plot reports/crag_tokens.png]

1. TCRA semantic compression throughput (sentences/s): all candidate deletions embedded in one batch vs
   one candidate per encoder call (the baseline), for the one-pass and the iterative strategy.
2. CRAG prompt tokens vs k retrieved passages (BM25 top-k), beside plain RAG's prompt at the same k;
   a plot of both curves.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")


def semantic_throughput(sentences: list[str]) -> None:
    from rag.compressors.tcra_semantic import SemanticCompressor

    SemanticCompressor(ratio=0.8).compress_sentences(sentences[:2])  # load both models
    print(f"TCRA semantic compression, {len(sentences)} sentences (ratio 0.8, floor 0.9)")
    for strategy in ("one-pass", "iterative"):
        rates = {}
        for batched in (True, False):
            compressor = SemanticCompressor(ratio=0.8, strategy=strategy, batched=batched)
            began = time.perf_counter()
            compressor.compress_sentences(sentences)
            rates[batched] = len(sentences) / (time.perf_counter() - began)
        print(f"  {strategy:9s} batched {rates[True]:7.1f} sent/s   one-at-a-time {rates[False]:6.1f} sent/s   "
              f"ratio {rates[True] / rates[False]:.1f}x")


def crag_tokens(collection: str, questions: list[str], ks: list[int], plot: Path) -> None:
    from core.llm_backend import get_llm
    from core.settings import get_settings
    from rag.answer_pipeline import AnswerConfig, AnswerPipeline
    from rag.answer_prompt import answer_messages
    from rag.retrieval import make_retriever

    llm, retriever = get_llm(get_settings().llm_model), make_retriever("bm25", collection)

    def plain_prompt_tokens(question: str, k: int) -> int:  # counted even where it exceeds the context window
        system, user, examples = answer_messages(question, retriever.run(question, k)["documents"])
        return llm.count_tokens(llm.chat_prompt(user, system=system, examples=examples))

    print(f"Prompt tokens vs k retrieved (mean over {len(questions)} questions; "
          f"{llm.model_name} reads {llm.context_length})")
    plain, crag = [], []
    for k in ks:
        rag_tokens = [plain_prompt_tokens(q, k) for q in questions]
        began = time.perf_counter()
        crag_runs = [AnswerPipeline(collection, AnswerConfig(top_k=k, compressor="crag")).prepare(q) for q in questions]
        seconds = (time.perf_counter() - began) / len(questions)
        plain.append(statistics.fmean(rag_tokens))
        crag.append(statistics.fmean(p.tokens["prompt"] for p in crag_runs))
        print(f"  k={k:3d}  rag {plain[-1]:7.0f}   crag {crag[-1]:5.0f}   ({1 - crag[-1] / plain[-1]:.0%} fewer; "
              f"compression {seconds:.1f} s/question)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(ks, plain, marker="o", label="plain RAG (top-k passages)")
    axis.plot(ks, crag, marker="o", label="CRAG (cluster summaries)")
    axis.set_xlabel("passages retrieved (k)")
    axis.set_ylabel("answer prompt tokens")
    axis.set_title("Prompt size vs k, 2WikiMultihopQA, SmolLM2 tokens")
    axis.legend()
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(plot, dpi=120)
    print(f"  plot: {plot}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/2wikimultihopqa"))
    parser.add_argument("--sentences", type=int, default=60)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--plot", type=Path, default=Path("reports/crag_tokens.png"))
    args = parser.parse_args()

    from evals.beir_loader import read_corpus
    from evals.dataset_collection import ensure_dataset_collection
    from evals.qa_dataset import read_questions
    from indexes.retriever import collection_manager
    from rag.compressors.sentences import split_sentences

    sentences = [s for d in read_corpus(args.dataset) for s in split_sentences(d.content or "")]
    if args.sentences > 0:  # --sentences 0 runs the CRAG part only
        semantic_throughput(sentences[: args.sentences])
    collection = ensure_dataset_collection(collection_manager(), args.dataset, ["bm25"])
    crag_tokens(collection.name, [q.question for q in read_questions(args.dataset, args.questions)], args.k, args.plot)


if __name__ == "__main__":
    main()
