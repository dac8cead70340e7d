"""Compressors with the real bundled LLM and MiniLM: mechanism, budgets, cache, Haystack contract."""
from __future__ import annotations

import numpy as np
import pytest
from haystack import Document, Pipeline

from core.errors import InvalidInputError
from core.llm_backend import get_llm
from indexes.encoder import get_encoder
from rag.compressors.crag_clusters import ClusterCompressor, choose_clusters
from rag.compressors.registry import make_compressor
from rag.compressors.sentences import split_sentences
from rag.compressors.tcra_semantic import SemanticCompressor
from rag.compressors.tcra_summary import SummaryCompressor

MODEL = "smollm2-135m-instruct"
PASSAGES = [
    ("Robin Gibb", "Robin Hugh Gibb (22 December 1949 – 20 May 2012) was a British singer, songwriter and record "
     "producer, who gained worldwide fame as a member of the pop group the Bee Gees with his older brother Barry "
     "and his fraternal twin brother Maurice. Gibb was born in Douglas on the Isle of Man to English parents."),
    ("Mount Everest", "Mount Everest is Earth's highest mountain above sea level, located in the Mahalangur Himal "
     "sub-range of the Himalayas. The China–Nepal border runs across its summit point. Its elevation of 8,848.86 m "
     "was most recently established in 2020 by the Chinese and Nepali authorities."),
    ("Photosynthesis", "Photosynthesis is a process used by plants and other organisms to convert light energy into "
     "chemical energy that, through cellular respiration, can later be released to fuel the organism's activities. "
     "Most plants, algae and cyanobacteria perform photosynthesis."),
]
TOPICS = {
    "football": ["The striker scored twice as the home team won the football league final.",
                 "The goalkeeper saved a penalty in the last minute of the football match.",
                 "The football club signed a new midfielder for the coming season."],
    "baking": ["Knead the bread dough for ten minutes and let it rise in a warm place.",
               "Bake the sourdough loaf in a hot oven until the crust is golden brown.",
               "Mix flour, yeast, water and salt to make a simple bread dough."],
    "astronomy": ["The telescope observed a distant galaxy billions of light years away.",
                  "Astronomers discovered a new exoplanet orbiting a nearby red dwarf star.",
                  "The comet's tail points away from the Sun as it nears the inner solar system."],
}


def _docs(pairs: list[tuple[str, str]]) -> list[Document]:
    return [Document(id=str(i), content=text, meta={"title": title}) for i, (title, text) in enumerate(pairs)]


def test_sentences_split_on_ends_not_on_abbreviations_or_initials():
    text = 'Dr. Who met J. R. R. Tolkien in the U.S. Army. He said "Yes." Then 5 more came. Fin'
    assert split_sentences(text) == ["Dr. Who met J. R. R. Tolkien in the U.S. Army.", 'He said "Yes."',
                                     "Then 5 more came.", "Fin"]


@pytest.mark.parametrize("strategy", ["one-pass", "iterative"])
def test_semantic_compression_deletes_words_within_the_budget_and_the_floor(strategy):
    compressor = SemanticCompressor(MODEL, ratio=0.8, similarity_floor=0.85, strategy=strategy)
    sentences = [s for _, text in PASSAGES for s in split_sentences(text)]
    compressed = compressor.compress_sentences(sentences)
    encoder, llm = get_encoder("all-minilm-l6-v2"), get_llm(MODEL)
    similarity = np.sum(encoder.encode(sentences) * encoder.encode(compressed), axis=1)
    assert (similarity >= 0.85 - 1e-4).all()
    for before, after in zip(sentences, compressed):
        kept = iter(before.split())
        assert all(word in kept for word in after.split()), "words are deleted, never reordered or invented"
    tokens_before = sum(llm.count_tokens(s) for s in sentences)
    tokens_after = sum(llm.count_tokens(s) for s in compressed)
    assert tokens_after < 0.95 * tokens_before
    result = compressor.run(query="who sang in the Bee Gees?", documents=_docs(PASSAGES))
    assert result["meta"]["compression_ratio"] == pytest.approx(
        result["meta"]["tokens_out"] / result["meta"]["tokens_in"], abs=1e-3)
    assert [d.meta["title"] for d in result["documents"]] == [title for title, _ in PASSAGES]


def test_semantic_compression_keeps_every_word_when_the_floor_is_identity():
    sentences = split_sentences(PASSAGES[0][1])
    assert SemanticCompressor(MODEL, ratio=0.5, similarity_floor=1.0).compress_sentences(sentences) == sentences


def test_summary_compression_meets_the_ratio_and_reuses_cached_summaries():
    documents = _docs(PASSAGES)
    compressor = SummaryCompressor(MODEL, ratio=0.4)
    first = compressor.run(query="Where was Robin Gibb born?", documents=documents)
    llm = get_llm(MODEL)
    for before, after in zip(documents, first["documents"]):
        assert 0 < llm.count_tokens(after.content) <= max(8, int(0.4 * llm.count_tokens(before.content)) + 1)
        assert after.meta["title"] == before.meta["title"]
    assert first["meta"]["compression_ratio"] < 0.7 and first["meta"]["generated_tokens"] > 0
    again = compressor.run(query="another question", documents=documents)
    assert again["meta"]["generated_tokens"] == 0, "query-independent summaries come from the content cache"
    assert [d.content for d in again["documents"]] == [d.content for d in first["documents"]]


class FirstWordsSummarizer:
    """A non-LLM summarizer: the leading words within the budget (shows the summarizer is pluggable)."""

    def summarize(self, texts, max_tokens, question, counter):
        return [" ".join(text.split()[: max(1, budget // 2)]) for text, budget in zip(texts, max_tokens)]


def test_summarizer_is_pluggable():
    result = SummaryCompressor(MODEL, ratio=0.3, summarizer=FirstWordsSummarizer()).run(
        query="q", documents=_docs(PASSAGES))
    assert result["meta"]["generated_tokens"] == 0
    assert result["documents"][0].content.startswith("Robin Hugh Gibb")


class RecordingSummarizer(FirstWordsSummarizer):
    """Remembers the question each summary was asked for."""

    def __init__(self):
        self.questions = []

    def summarize(self, texts, max_tokens, question, counter):
        self.questions.append(question)
        return super().summarize(texts, max_tokens, question, counter)


def test_crag_summaries_are_query_independent_unless_asked():
    """The CRAG paper summarizes each cluster for what it says; query-focused summaries are an option."""
    documents = _docs([(topic, t) for topic, texts in TOPICS.items() for t in texts])
    seen = {}
    for focused in (None, False, True):
        summarizer = RecordingSummarizer()
        options = {} if focused is None else {"query_focused": focused}
        compressor = ClusterCompressor(MODEL, max_clusters=3, summarizer=summarizer, **options)
        compressor.run(query="Which team won the final?", documents=documents)
        seen[focused] = summarizer.questions
    assert seen[None] == seen[False] == [None]
    assert seen[True] == ["Which team won the final?"]
    assert ClusterCompressor.from_dict(ClusterCompressor(MODEL, query_focused=True).to_dict()).query_focused


def test_clusters_follow_topics():
    texts = [t for topic in TOPICS.values() for t in topic]
    labels = choose_clusters(get_encoder("all-minilm-l6-v2").encode(texts), max_clusters=5)
    groups = [set(labels[i:i + 3]) for i in range(0, 9, 3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3


def test_crag_context_stays_flat_as_retrieval_grows():
    compressor = ClusterCompressor(MODEL, max_clusters=3, summary_tokens=24)
    small = _docs([(topic, t) for topic, texts in TOPICS.items() for t in texts[:1]])
    large = _docs([(topic, t) for topic, texts in TOPICS.items() for t in texts] * 2)
    outputs = [compressor.run(query="Which team won the final?", documents=d) for d in (small, large)]
    for output in outputs:
        assert len(output["documents"]) <= 3 and output["meta"]["tokens_out"] <= 3 * 24
        sources = [i for d in output["documents"] for i in d.meta["source_ids"]]
        assert sorted(sources) == sorted(set(sources))
    assert len({i for d in outputs[1]["documents"] for i in d.meta["source_ids"]}) == len(large)
    assert outputs[1]["meta"]["tokens_in"] > 5 * outputs[0]["meta"]["tokens_in"], "6× the passages, same cap"


def test_compressors_are_haystack_components():
    pipeline = Pipeline()
    pipeline.add_component("compress", make_compressor("tcra-semantic", model=MODEL, ratio=0.7))
    result = pipeline.run({"compress": {"query": "Everest height", "documents": _docs(PASSAGES[1:2])}})
    assert result["compress"]["meta"]["method"] == "tcra-semantic"
    restored = SemanticCompressor.from_dict(pipeline.get_component("compress").to_dict())
    assert restored.ratio == 0.7 and restored.strategy == "one-pass"


@pytest.mark.parametrize("name, options", [("zip", {}), ("crag", {"bogus": 1}), ("tcra-summary", {"ratio": 1.5}),
                                           ("tcra-semantic", {"strategy": "random"})])
def test_bad_compressor_options_are_clear_errors(name, options):
    with pytest.raises(InvalidInputError):
        make_compressor(name, **options)
