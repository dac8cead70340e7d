"""TILDEv2: the scoring formula, expansion filters, training (resume, as a job), atomic builds, empty queries."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import NotFoundError
from core.model_registry import resolve_model
from core.stopwords import ENGLISH_STOPWORDS
from indexes.retriever import collection_manager
from indexes.tilde.scorer import TildeScorer, score_passage
from indexes.tilde.vocabulary import QUESTION_WORDS
from indexes.tilde_index import LoadedTilde, impact_matrix
from tests.conftest import TRAIN_QUERIES

PASSAGE = "Vitamin D deficiency raises the risk of hip fracture. Fracture healing needs vitamin D and calcium."
QUERY = "Does vitamin D deficiency cause a fracture, a fracture of the hip?"


def _by_hand(scorer: TildeScorer, query: str, passage: str) -> float:
    """The paper's formula computed directly from the model's per-token weights."""
    batch = scorer.tokenize_passages([passage])
    with torch.inference_mode():
        weights = scorer.token_weights(batch["input_ids"], batch["attention_mask"])[0].tolist()
    ids = batch["input_ids"][0].tolist()
    total = 0.0
    for token in scorer.tokenizer(query, add_special_tokens=False)["input_ids"]:
        word = scorer.tokenizer.convert_ids_to_tokens(token)
        if word in ENGLISH_STOPWORDS - QUESTION_WORDS or word == "##s" or not re.fullmatch(r"[a-z0-9_-]+|##.+", word):
            continue
        total += max([w for t, w in zip(ids, weights) if t == token], default=0.0)
    return total


def test_scores_follow_the_formula(tilde_scorer: Path) -> None:
    scorer = TildeScorer.load(tilde_scorer)
    expected = _by_hand(scorer, QUERY, PASSAGE)
    assert expected > 0
    counts = scorer.query_counts(QUERY)
    fracture = scorer.tokenizer.convert_tokens_to_ids("fracture")
    assert counts[fracture] == 2  # duplicates count
    assert scorer.tokenizer.convert_tokens_to_ids("the") not in counts  # stopwords do not
    impacts = scorer.passage_impacts([PASSAGE, "An unrelated passage about galaxies."])
    assert score_passage(counts, impacts[0]) == pytest.approx(expected, rel=2e-3)
    index = LoadedTilde(impact_matrix(impacts, scorer.scorable.size), ["p", "other"], str(tilde_scorer), 0)
    assert index.score(QUERY, ["p"])[0] == pytest.approx(expected, rel=2e-3)
    hits = index.search([QUERY], 10)[0]
    assert hits[0][0] == "p" and hits[0][1] == pytest.approx(expected, rel=2e-3)
    assert all(doc_id != "other" or score > 0 for doc_id, score in hits)
    assert np.isnan(index.score(QUERY, ["unknown"])[0])


def test_vocabulary_rules_are_ielab_tildes() -> None:
    """tools.get_stop_ids (scoring) keeps question words and "##" pieces but "##s", drops non-word tokens;
    expansion.clean_vacab (expansion) also drops question words and "definition"."""
    from transformers import AutoTokenizer

    from indexes.tilde.vocabulary import expandable_token_mask, scorable_token_mask

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("splade-tiny-bert").local_path))
    scorable, expandable = scorable_token_mask(tokenizer), expandable_token_mask(tokenizer)

    def ids(*tokens: str) -> list[int]:
        return tokenizer.convert_tokens_to_ids(list(tokens))

    assert scorable[ids("what", "how", "fracture", "##ing", "-", "definition")].all()
    assert not scorable[ids("the", "of", "##s", ",", "$", "[CLS]", "[SEP]", "[PAD]")].any()
    assert expandable[ids("fracture", "##ing", "-")].all()
    assert not expandable[ids("what", "how", "definition", "the", "##s", ",", "[CLS]")].any()


def test_expansion_appends_new_allowed_tokens_the_scorer_reads_back(tilde_scorer: Path, scifact_slice: Path) -> None:
    from evals.beir_loader import read_corpus
    from indexes.tilde.expansion import PassageExpander
    from indexes.tilde.vocabulary import expandable_token_mask

    expander = PassageExpander(resolve_model("splade-tiny-bert").local_path, top_k=200)
    allowed = expandable_token_mask(expander.tokenizer)
    passages = [d.content for d, _ in zip(read_corpus(scifact_slice), range(6))]
    all_terms = expander.expansion_terms(passages)
    for passage, terms in zip(passages, all_terms):
        assert terms, "a passage got no expansion terms"
        present = set(expander.tokenizer.tokenize(passage))
        for term in terms:
            assert term not in present and allowed[expander.tokenizer.convert_tokens_to_ids(term)]
        assert len(set(terms)) == len(terms) <= 200
    scorer = TildeScorer.load(tilde_scorer)
    expanded = expander.expand(["Bone fracture healing."])[0]
    ids = scorer.tokenize_passages([expanded])["input_ids"][0].tolist()
    terms = expander.expansion_terms(["Bone fracture healing."])[0]
    passage = scorer.tokenizer("Bone fracture healing.", add_special_tokens=False)["input_ids"]
    appended = scorer.tokenizer.convert_tokens_to_ids(terms)  # "##" pieces arrive as their own ids
    assert ids == [scorer.tokenizer.cls_token_id, *(passage + appended)[: scorer.max_length - 2],
                   scorer.tokenizer.sep_token_id]


def test_training_resumes_to_the_same_weights(tmp_path: Path, scifact_slice: Path) -> None:
    from evals.beir_loader import load_beir
    from indexes.document_store import indexable_text
    from indexes.tilde.training import TrainingConfig, train_scorer
    from indexes.tilde.training_examples import training_examples

    data = load_beir(scifact_slice)
    corpus = {d.id: indexable_text(d) for d in data.corpus()}
    examples = training_examples(corpus, data.queries, data.qrels, None, 0, negatives_depth=5)[:16]
    encoder = str(resolve_model("splade-tiny-bert").local_path)

    def config(name: str) -> TrainingConfig:
        return TrainingConfig(encoder=encoder, out=tmp_path / name, epochs=2, batch_queries=4, group_size=4,
                              max_length=96, checkpoint_every=2)

    class Interrupted(Exception):
        pass

    def crash_at_step_5(step: int, total: int, loss: float) -> None:
        if step == 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_scorer(config("resumed"), examples, crash_at_step_5)
    assert not (tmp_path / "resumed" / "tilde.json").exists()
    steps: list[int] = []
    train_scorer(config("resumed"), examples, lambda step, total, loss: steps.append(step))
    assert steps[0] == 5  # resumed after the checkpoint of step 4
    train_scorer(config("straight"), examples)
    resumed, straight = TildeScorer.load(tmp_path / "resumed"), TildeScorer.load(tmp_path / "straight")
    for (name, a), b in zip(resumed.state_dict().items(), straight.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_training_is_a_job_that_records_its_data_and_refuses_bad_input(train_folder: Path, data_dir: Path,
                                                                       tmp_path: Path) -> None:
    from evals.reranker_training_set import ids_digest
    from tests.test_cli import siftrag

    def train(*args: str):
        return siftrag("train", "tilde", "--dataset", str(train_folder), "--name", "tilde-job", "--epochs", "1",
                       "--batch-queries", "2", "--group-size", "3", "--max-length", "96", "--expansion-top-k", "0",
                       *args, data_dir=data_dir)

    result = train()
    assert result.returncode == 0, result.stderr
    assert "train tilde tilde-job" in result.stdout
    assert json.loads(result.stdout[result.stdout.index("{"):])["examples"] == TRAIN_QUERIES
    training = TildeScorer.load(data_dir / "models" / "tilde" / "tilde-job").info["training"]
    train_ids = {line.split("\t")[0] for line in (train_folder / "qrels" / "train.tsv").read_text().splitlines()[1:]}
    assert training["data"]["query_ids_sha256"] == ids_digest(train_ids)
    assert training["data"]["checked_disjoint_from"] == {"test": 2} and training["steps"] == 3
    bad_group = train("--group-size", "1")
    assert bad_group.returncode == 2 and "group_size" in bad_group.stderr
    leaking = tmp_path / "leaking"
    shutil.copytree(train_folder, leaking)
    (leaking / "qrels" / "train.tsv").write_text((leaking / "qrels" / "test.tsv").read_text())
    leak = siftrag("train", "tilde", "--dataset", str(leaking), "--name", "leak", data_dir=data_dir)
    assert leak.returncode == 2 and "leaks" in leak.stderr


def test_build_is_atomic_incremental_and_empty_queries_are_empty(tilde_scorer: Path, scifact_slice: Path) -> None:
    from evals.dataset_collection import ensure_dataset_collection

    collection = ensure_dataset_collection(collection_manager(), scifact_slice, ["bm25"], name="tilde-slice")
    first = collection.build("tilde", {"expansion_top_k": 0})
    manifest = collection.versions("tilde").manifest(first)
    assert manifest["documents"] == collection.store.count() and manifest["bytes_per_passage"] > 0
    with pytest.raises(NotFoundError, match="No trained TILDEv2 scorer 'no-such-scorer'"):
        collection.build("tilde", {"model": "no-such-scorer"})
    assert collection.versions("tilde").current() == first
    assert collection.search("tilde", ["the of and ?"], 10) == [[]]
    hits = collection.search("tilde", ["vitamin D and bone fractures"], 5)[0]
    assert len(hits) == 5 and hits[0].score >= hits[-1].score > 0

    from haystack import Document

    collection.store.upsert([Document(id="new", content="Zyxoplasmin degrades quorax in vitro.")])
    calls: list[tuple[int, int]] = []
    second = collection.build("tilde", {"expansion_top_k": 0}, progress=lambda done, total: calls.append((done, total)))
    assert second != first
    assert calls[0] == (collection.store.count() - 1, collection.store.count())  # only the new passage encoded
    assert collection.search("tilde", ["zyxoplasmin quorax"], 3)[0][0].id == "new"


def test_reranker_uses_the_index_and_encodes_unindexed_documents(tilde_scorer: Path, scifact_slice: Path) -> None:
    from haystack import Document

    from rerankers.registry import make_reranker

    collection = collection_manager().get("tilde-slice")
    candidates = collection.search("bm25", ["vitamin D and bone fractures"], 20)[0]
    inline = Document(id="inline", content="Vitamin D supplements reduce bone fractures in the elderly.")
    result = make_reranker("tilde", collection="tilde-slice").run(
        query="vitamin D and bone fractures", documents=candidates + [inline], top_k=21)
    assert result["meta"]["encoded_passages"] == 1
    assert {d.id for d in result["documents"]} == {d.id for d in candidates} | {"inline"}
    scores = [d.score for d in result["documents"]]
    assert scores == sorted(scores, reverse=True)
    empty = make_reranker("tilde", collection="tilde-slice").run(query="the of", documents=candidates[:3])
    assert [d.score for d in empty["documents"]] == [0.0, 0.0, 0.0]


def test_unindexed_candidates_are_expanded_as_the_index_was(tilde_scorer: Path) -> None:
    """The index was built with expansion_top_k=0: a copy of an indexed passage sent inline scores the same,
    whatever the component's own expansion_top_k."""
    from haystack import Document

    from rerankers.registry import make_reranker

    collection = collection_manager().get("tilde-slice")
    candidates = collection.search("bm25", ["vitamin D and bone fractures"], 3)[0]
    copy = Document(id="copy", content=candidates[0].content, meta=candidates[0].meta)
    result = make_reranker("tilde", collection="tilde-slice", expansion_top_k=200).run(
        query="vitamin D and bone fractures", documents=[candidates[0], copy], top_k=2)
    assert result["meta"]["encoded_passages"] == 1
    first, second = (d.score for d in result["documents"])
    assert first == pytest.approx(second, rel=1e-3)


def test_interpolation_weight_one_keeps_the_first_stage_order(tilde_scorer: Path) -> None:
    from core.errors import InvalidInputError
    from rerankers.registry import make_reranker

    collection = collection_manager().get("tilde-slice")
    candidates = collection.search("bm25", ["vitamin D and bone fractures"], 10)[0]
    kept = make_reranker("tilde", collection="tilde-slice", first_stage_weight=1.0).run(
        query="vitamin D and bone fractures", documents=candidates, top_k=10)
    assert [d.id for d in kept["documents"]] == [d.id for d in candidates]
    with pytest.raises(InvalidInputError):
        make_reranker("tilde", first_stage_weight=2.0)
    with pytest.raises(InvalidInputError):
        make_reranker("tilde", window=3)


def test_the_shipped_scorer_ranks_the_answer_first() -> None:
    from indexes.tilde.scorer_store import SHIPPED

    scorer = TildeScorer.load(SHIPPED / "tilde-scifact")
    passages = ["Statins lower LDL cholesterol and reduce cardiovascular events in adults.",
                "Vitamin D supplementation reduces the risk of hip fractures in elderly women.",
                "Malaria transmission depends on Anopheles mosquito density and rainfall."]
    counts = scorer.query_counts("Does vitamin D prevent hip fractures?")
    scores = [score_passage(counts, impacts) for impacts in scorer.passage_impacts(passages)]
    assert max(range(3), key=scores.__getitem__) == 1 and scores[2] == 0.0
