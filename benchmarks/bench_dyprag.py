"""DyPRAG's cost beside its baselines, measured in the same run.

    python benchmarks/bench_dyprag.py --translator dyprag-2wiki [--dataset ../shared/data/2wikimultihopqa]
        [--documents 6] [--tokens 32]

1. Turning a document into parameters: PRAG (QA augmentation + LoRA training, the paper's offline step)
   vs DyPRAG's translation (one forward pass + the hypernetworks), seconds per document and the ratio.
2. Decoding speed (tokens/s, greedy, 3 retrieved passages): the model without hooks, with the delta hooks
   installed but no delta active (every other request), and with an injected DyPRAG delta.
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
    from rag.parametric.document_augmentation import generate_qa, training_examples
    from rag.parametric.document_embedding import document_embeddings
    from rag.parametric.prag_lora import LoraSettings, PragTrainer
    from rag.parametric.translator_store import load_translator

    llm = get_llm(model)
    trainer = PragTrainer(model, LoraSettings())
    translator = load_translator(translator_name)
    prag, dyprag = [], []
    for text in texts:
        began = time.perf_counter()
        trainer.train(training_examples(llm, text, generate_qa(llm, text)), seed=0)
        prag.append(time.perf_counter() - began)
        began = time.perf_counter()
        translator.delta(document_embeddings(llm, [text])[0])
        dyprag.append(time.perf_counter() - began)
    p, d = statistics.median(prag), statistics.median(dyprag)
    print(f"document → parameters, {len(texts)} documents (median): PRAG augmentation + LoRA training {p:.2f} s, "
          f"DyPRAG translation {d:.3f} s   ratio {p / d:.0f}x")


def decoding(texts: list[str], model: str, translator_name: str, tokens: int) -> None:
    from core.llm_backend import LLMBackend, get_llm
    from rag.parametric.dyprag_answerer import translate_documents
    from rag.parametric.lora_delta import active, install_delta_hooks
    from rag.parametric.translator_store import load_translator

    question = "Question: Who is the director of the film, and where was he born?"
    plain = LLMBackend(model)  # never hooked
    llm = get_llm(model)
    install_delta_hooks(llm.model)
    delta = translate_documents(load_translator(translator_name), llm, texts[:3])
    prompt = plain.chat_prompt(question)
    rates = {}
    for label, backend, chosen in (("no hooks", plain, None), ("hooks, no delta", llm, None),
                                   ("hooks + DyPRAG delta", llm, delta)):
        backend.generate(prompt, 4)
        with active(chosen):
            began = time.perf_counter()
            made = sum(len(backend.generate(prompt, tokens).token_ids) for _ in range(3))
            rates[label] = made / (time.perf_counter() - began)
    base = rates["no hooks"]
    print(f"decoding, {tokens} tokens x 3: " + "   ".join(f"{k} {v:.1f} tok/s ({v / base:.2f}x)"
                                                          for k, v in rates.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/2wikimultihopqa"))
    parser.add_argument("--translator", default="dyprag")
    parser.add_argument("--model", default=None)
    parser.add_argument("--documents", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    from core.settings import get_settings

    model = args.model or get_settings().llm_model
    texts = passages(args.dataset, args.documents)
    parameterize(texts, model, args.translator)
    decoding(texts, model, args.translator, args.tokens)


if __name__ == "__main__":
    main()
