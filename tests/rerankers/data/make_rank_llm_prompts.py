"""Provenance of rank_llm_prompts.json: run castorini/rank_llm's own create_prompt (1b3cabb) on listwise_input.json.

Not a test. Run with rank_llm's src/ on the path and ftfy, dacite, pyyaml and transformers importable:
    PYTHONPATH=<rank_llm>/src python make_rank_llm_prompts.py listwise_input.json <SmolLM2 tokenizer dir> out.json
"""
import json
import sys
from importlib.resources import files
from pathlib import Path

from rank_llm.data import Candidate, Query, Result
from rank_llm.rerank.listwise.rank_listwise_os_llm import RankListwiseOSLLM
from rank_llm.rerank.rankllm import RankLLM
from transformers import AutoTokenizer

CASES = [("default", 4096, 300, 0, 5), ("words50", 4096, 50, 0, 5), ("shrunk", 400, 300, 0, 5),
         ("window", 4096, 300, 1, 4)]


def ranker(tokenizer, context_size: int, words: int) -> RankListwiseOSLLM:
    """rank_llm's own RankLLM.__init__ (template, handler) and create_prompt, without starting vLLM."""
    model = RankListwiseOSLLM.__new__(RankListwiseOSLLM)
    template = files("rank_llm.rerank.prompt_templates") / "rank_zephyr_alpha_template.yaml"
    RankLLM.__init__(model, model="x", context_size=context_size, prompt_template_path=str(template))
    model._window_size, model._stride, model._use_alpha, model._max_passage_words = 20, 10, True, words
    model._base_url, model._tokenizer, model._is_thinking, model._output_token_estimate = None, tokenizer, False, None
    model._examples = []
    return model


def main() -> None:
    source = json.loads(Path(sys.argv[1]).read_text())
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
    out = {}
    for name, context, words, start, end in CASES:
        result = Result(query=Query(text=source["query"], qid="q1"), candidates=[
            Candidate(docid=d["id"], score=1.0, doc={"title": d["title"], "text": d["text"]})
            for d in source["documents"]])
        prompt, tokens = ranker(tokenizer, context, words).create_prompt(result, start, end)
        out[name] = {"context_size": context, "passage_words": words, "start": start, "end": end,
                     "prompt": prompt, "tokens": tokens}
    Path(sys.argv[3]).write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
