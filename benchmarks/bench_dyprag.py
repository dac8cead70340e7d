"""DyPRAG's cost beside its baselines, measured in the same run.

    python benchmarks/bench_dyprag.py --translator dyprag-2wiki [--dataset ../shared/data/2wikimultihopqa]
        [--documents 6] [--tokens 32] [--rounds 5] [--skip-prag]

1. Turning a document into parameters: PRAG (QA augmentation + LoRA training, the paper's offline step)
   vs DyPRAG's translation (one forward pass + the hypernetworks), seconds per document and the ratio.
2. Decoding cost (ms per KV-cached step): the model without hooks, with the delta hooks installed but no
   delta active (every other request), and with an injected DyPRAG delta of three documents.
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


def passages(dataset: Path, count: int) -> list[str]:
    from evals.beir_loader import read_corpus
    from indexes.document_store import indexable_text

    found = []
    for document in read_corpus(dataset):
        found.append(indexable_text(document))
        if len(found) == count:
            return found
    return found


def parameterize(texts: list[str], model: str, translator_name: str) -> None:
    from core.llm_backend import get_llm
    from rag.parametric.document_augmentation import augment, training_examples
    from rag.parametric.document_embedding import document_embeddings
    from rag.parametric.prag_lora import LoraSettings, PragTrainer
    from rag.parametric.translator_store import load_translator

    llm = get_llm(model)
    trainer = PragTrainer(model, LoraSettings())
    translator = load_translator(translator_name)
    prag, dyprag = [], []
    for text in texts:
        began = time.perf_counter()
        examples = training_examples(llm, augment(llm, text, seed=0))
        if examples:  # a document without QA triples gets no LoRA (the reference skips it too)
            trainer.train(examples, seed=0)
        prag.append(time.perf_counter() - began)
        began = time.perf_counter()
        translator.delta(document_embeddings(llm, [text])[0])
        dyprag.append(time.perf_counter() - began)
    p, d = statistics.median(prag), statistics.median(dyprag)
    print(f"document → parameters, {len(texts)} documents (median): PRAG augmentation + LoRA training {p:.2f} s, "
          f"DyPRAG translation {d:.3f} s   ratio {p / d:.0f}x")


def decoding(texts: list[str], model: str, translator_name: str, tokens: int, rounds: int) -> None:
    """Milliseconds per decoding step (KV-cached, greedy, a fixed number of steps so an early end of text
    cannot skew it), interleaved over ``rounds``."""
    import torch

    from core.llm_backend import LLMBackend, get_llm
    from rag.parametric.dyprag_answerer import translate_documents
    from rag.parametric.translator_store import load_translator

    plain = LLMBackend(model)  # never hooked
    llm = get_llm(model)
    delta = translate_documents(load_translator(translator_name), llm, texts[:3])
    prompt = torch.tensor([plain.encode(plain.chat_prompt("Who is the director of the film, and where was he born?"))])
    variants = (("no hooks", plain, None), ("hooks, no delta", llm, None), ("hooks + DyPRAG delta", llm, delta))
    seconds = {label: 0.0 for label, _, _ in variants}

    @torch.no_grad()
    def steps(backend: LLMBackend) -> float:
        out = backend.model(prompt, use_cache=True)
        began = time.perf_counter()
        for _ in range(tokens):
            token = out.logits[:, -1:].argmax(-1)
            out = backend.model(token, past_key_values=out.past_key_values, use_cache=True)
        return time.perf_counter() - began

    for _ in range(rounds):  # interleaved, so load changes on the machine hit every variant alike
        for label, backend, chosen in variants:
            with llm.with_delta(chosen):  # hooks ``llm`` only: ``plain`` stays unhooked
                seconds[label] += steps(backend)
    per_step = {label: 1000 * value / (rounds * tokens) for label, value in seconds.items()}
    base = per_step["no hooks"]
    print(f"decoding, {tokens} steps x {rounds} rounds: " + "   ".join(
        f"{k} {v:.1f} ms/token ({v / base:.2f}x)" for k, v in per_step.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/2wikimultihopqa"))
    parser.add_argument("--translator", default="dyprag")
    parser.add_argument("--model", default=None)
    parser.add_argument("--documents", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-prag", action="store_true", help="only the decoding comparison")
    args = parser.parse_args()
    from core.settings import get_settings

    model = args.model or get_settings().llm_model
    texts = passages(args.dataset, args.documents)
    if not args.skip_prag:
        parameterize(texts, model, args.translator)
    decoding(texts, model, args.translator, args.tokens, args.rounds)


if __name__ == "__main__":
    main()
