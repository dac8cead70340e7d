"""Generation speed: our llama.cpp engine vs llama.cpp's own Python binding on the same GGUF and threads, and vs
the transformers path, in one run; then the answer step of ``/v1/answer`` (2Wiki questions, BM25 top-5, ``short``,
the default reader) on both engines: p50/p95 and the stream's time to first piece.

    python benchmarks/bench_generation.py [--prompts 6] [--tokens 128] [--questions 20] [--top-k 5]

Tokens/s = generated tokens / wall time of whole calls (prompt reading included), greedy, the same chat prompts
for every engine. llama.cpp's binding (``llama_cpp.Llama.create_completion``, temperature 0) runs the Q8_0 file
our engine decodes and, for reference, the shipped Q4_1 file; both without llama.cpp's extra weight buffers,
whose AMX kernels crash on prompts here (our engine uses them for single tokens only, see
``core/llama_cpp_decoder.py``). Last line: ``ratio_vs_llama_cpp=X speedup_vs_transformers=Y`` (X against the binding
on the same Q8_0 file).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from benchmarks.timing import percentiles  # noqa: E402

PROMPTS = ["Write a long story about a cat who travels the world.", "Explain how a steam engine works.",
           "Describe the history of the city of Kyoto.", "Write a letter to a friend about your holidays.",
           "Explain why the sky is blue, in detail.", "Describe a day in the life of a farmer.",
           "Write an essay about the importance of sleep.", "Tell the story of the first flight to the moon."]


def _use_engine(engine: str) -> None:
    from core.llm_backend import LLM_CACHE
    from core.settings import get_settings

    os.environ["SIFTRAG_LLM_ENGINE"] = engine
    get_settings.cache_clear()
    LLM_CACHE.clear()


def _ours(model: str, prompts: list[str], tokens: int) -> tuple[int, float]:
    from core.llm_backend import get_llm

    llm = get_llm(model)
    llm.generate(prompts[0], 4)  # warm up
    generated, began = 0, time.perf_counter()
    for prompt in prompts:
        generated += len(llm.generate(prompt, tokens).token_ids)
    return generated, time.perf_counter() - began


def _binding(gguf: Path, prompt_ids: list[list[int]], tokens: int, threads: int) -> tuple[int, float]:
    from llama_cpp import llama as binding

    defaults = binding.llama_cpp.llama_model_default_params

    def without_extra_buffers() -> object:
        params = defaults()
        params.use_extra_bufts = False
        return params

    binding.llama_cpp.llama_model_default_params = without_extra_buffers  # Llama() has no option for it
    try:
        llm = binding.Llama(str(gguf), n_ctx=4096, n_batch=512, n_threads=threads, n_threads_batch=threads,
                            flash_attn=False, verbose=False)
    finally:
        binding.llama_cpp.llama_model_default_params = defaults
    llm.create_completion(prompt_ids[0], max_tokens=4, temperature=0.0)
    generated, began = 0, time.perf_counter()
    for ids in prompt_ids:
        out = llm.create_completion(ids, max_tokens=tokens, temperature=0.0)
        generated += out["usage"]["completion_tokens"]
    return generated, time.perf_counter() - began


def _answer_latency(questions: int, top_k: int) -> tuple[list[float], list[float], str]:
    """(seconds of each answer, seconds to each stream's first piece, the engine that generated)."""
    from core.llm_backend import CallCounter
    from evals.beir_loader import read_corpus
    from evals.qa_dataset import read_questions
    from indexes.bm25_index import bm25_rankings
    from indexes.document_store import indexable_text
    from rag.answer_generator import AnswerGenerator

    dataset = Path(__file__).resolve().parents[1] / "data" / "sample" / "2wikimultihopqa"
    items = read_questions(dataset, questions)
    corpus = {d.id: d for d in read_corpus(dataset)}
    rankings = bm25_rankings({i: indexable_text(d) for i, d in corpus.items()}, {q.id: q.question for q in items},
                             top_k)
    generator = AnswerGenerator(answer_format="short")
    generator.run(items[0].question, [corpus[d] for d in rankings[items[0].id]])  # load and warm up
    answers, first_pieces, engine = [], [], ""
    contexts = [(item.question, [corpus[d] for d in rankings[item.id]]) for item in items]
    for question, documents in contexts:
        began = time.perf_counter()
        engine = generator.run(question, documents)["meta"].get("generation_engine", engine)
        answers.append(time.perf_counter() - began)
    for question, documents in contexts:  # a second pass: no stream finds its own prompt in llama.cpp's cache
        began = time.perf_counter()
        stream = generator.stream(question, documents, threading.Event(), CallCounter())
        next(stream)
        first_pieces.append(time.perf_counter() - began)
        stream.close()
    return answers, first_pieces, engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()

    import torch

    from core.llm_backend import get_llm
    from core.model_registry import resolve_model

    threads = torch.get_num_threads()
    _use_engine("llama.cpp")
    llm = get_llm(args.model)
    prompts = [llm.chat_prompt(text) for text in (PROMPTS * 4)[:args.prompts]]
    prompt_ids = [llm.encode(p) for p in prompts]
    rows = {"ours (llama.cpp engine)": _ours(args.model, prompts, args.tokens)}
    q8_file = llm.fast.gguf_path
    rows["llama.cpp binding, same Q8_0 file"] = _binding(q8_file, prompt_ids, args.tokens, threads)
    shipped = resolve_model(args.model).local_path
    rows[f"llama.cpp binding, shipped {shipped.suffixes[0].lstrip('.')} file"] = _binding(
        shipped, prompt_ids, args.tokens, threads)
    _use_engine("transformers")
    rows["transformers"] = _ours(args.model, prompts, args.tokens)
    rate = {name: tokens / seconds for name, (tokens, seconds) in rows.items()}
    print(f"{args.model}, {len(prompts)} prompts, up to {args.tokens} new tokens, {threads} threads")
    print(f"{'engine':<40} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
    for name, (tokens, seconds) in rows.items():
        print(f"{name:<40} {tokens:7d} {seconds:8.2f} {rate[name]:9.1f}")

    ours, reference = rate["ours (llama.cpp engine)"], rate["llama.cpp binding, same Q8_0 file"]
    if args.questions:
        print(f"\nanswer step (2Wiki, {args.questions} questions, BM25 top-{args.top_k}, short, default reader)")
        print(f"{'engine':<14} {'p50 ms':>8} {'p95 ms':>8} {'first piece p50 ms':>19}")
        latencies = {}
        for engine in ("transformers", "llama.cpp"):
            _use_engine(engine)
            answers, first, used = _answer_latency(args.questions, args.top_k)
            latencies[engine] = percentiles(answers)
            print(f"{used:<14} {latencies[engine][0]:8.0f} {latencies[engine][1]:8.0f} "
                  f"{percentiles(first)[0]:19.0f}")
        print(f"answer p50 speed-up: {latencies['transformers'][0] / latencies['llama.cpp'][0]:.2f}x, "
              f"p95: {latencies['transformers'][1] / latencies['llama.cpp'][1]:.2f}x")
    print(f"ratio_vs_llama_cpp={ours / reference:.2f} speedup_vs_transformers={ours / rate['transformers']:.2f}")


if __name__ == "__main__":
    main()
