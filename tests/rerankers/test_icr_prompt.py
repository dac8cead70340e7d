"""ICR's prompt as In-Context-Reranking builds it: one tokenization, spans from offsets, bare role markers,
the reference's instructions and passages; scores equal the mechanism computed on full eager attention."""
from __future__ import annotations

import pytest
import torch
from haystack import Document

from core.errors import InvalidInputError
from core.llm_backend import get_llm
from rerankers.icr import ICRReranker, calibrated_document_scores
from rerankers.icr_prompt import INSTRUCTIONS, build_icr_prompt, role_markers

MODEL = "smollm2-135m-instruct"
QUERY = "Which organelle produces ATP?"
DOCS = [
    Document(id="a", content="The Eiffel Tower is in Paris.\nIt was completed in 1889.", meta={"title": "Eiffel Tower"}),
    Document(id="b", content="The mitochondrion is the organelle that produces ATP in cells.", meta={"title": "Cell"}),
    Document(id="c", content="Mount Everest is the highest mountain.", meta={}),
]
# The reference's string for a ChatML model: bare role markers (no default system turn), " Here are some
# paragraphs:", "[i] title\ntext" joined by "\n\n", the IE instruction, "Query: …", the assistant marker.
EXPECTED = ("<|im_start|>user\n Here are some paragraphs:\n\n[1] Mount Everest is the highest mountain.\n\n"
            "[2] Cell\nThe mitochondrion is the organelle that produces ATP in cells.\n\n"
            "[3] Eiffel Tower\nThe Eiffel Tower is in Paris.\nIt was completed in 1889.\n\n"
            "Please find information that are relevant to the following query in the paragraphs above.\n\n"
            f"Query: {QUERY}<|im_end|>\n<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def icr() -> ICRReranker:
    return ICRReranker(model=MODEL)


def test_prompt_string_and_ids_are_the_tokenizers_ids_of_the_whole_string(icr, monkeypatch) -> None:
    fed = []
    original = icr.llm.query_attention

    def recording(prefix, spans, *args, **kwargs):
        fed.append((list(prefix), [list(s) for s in spans]))
        return original(prefix, spans, *args, **kwargs)

    monkeypatch.setattr(icr.llm, "query_attention", recording)
    icr.run(query=QUERY, documents=DOCS)  # reverse order: the BM25 best ("a") goes last
    prefix, (query_span, calibration_span) = fed[0]
    tokenizer = icr.llm.tokenizer
    assert prefix + query_span == tokenizer(EXPECTED).input_ids
    assert prefix + calibration_span == tokenizer(EXPECTED.replace(QUERY, "N/A")).input_ids


def test_spans_cover_exactly_the_marker_and_passage_and_the_instruction_to_the_end(icr) -> None:
    tokenizer = icr.llm.tokenizer
    passages = icr.passages(list(reversed(DOCS)))
    prompt = build_icr_prompt(tokenizer, role_markers(tokenizer), icr.instruction, QUERY, passages)
    assert prompt.text == EXPECTED
    offsets = tokenizer(prompt.text, return_offsets_mapping=True)["offset_mapping"]
    for number, ((start, end), passage) in enumerate(zip(prompt.document_spans, passages), start=1):
        covered = prompt.text[offsets[start][0]:offsets[end - 1][1]]
        assert covered == f"[{number}] {passage}"
        assert offsets[start - 1][1] <= offsets[start][0] and offsets[end][0] >= offsets[end - 1][1]
    assert prompt.text[offsets[prompt.query_start][0]:] == EXPECTED[EXPECTED.index("Please find"):]


def test_scores_equal_the_mechanism_on_full_eager_attention(icr) -> None:
    """a(t) from a full forward of each whole prompt (what the reference reads), calibrated and masked."""
    llm = icr.llm
    passages = icr.passages(DOCS)
    real = build_icr_prompt(llm.tokenizer, role_markers(llm.tokenizer), icr.instruction, QUERY, passages)
    na = build_icr_prompt(llm.tokenizer, role_markers(llm.tokenizer), icr.instruction, "N/A", passages)

    def a(prompt):
        rows = torch.stack(llm.full_attention(prompt.ids))[:, :, prompt.query_start:, :]
        return rows.sum(dim=(0, 1)).mean(dim=0)[: prompt.query_start]

    expected = calibrated_document_scores(a(real), a(na), real.document_spans)
    assert icr.attention_scores(QUERY, passages) == pytest.approx(expected, abs=1e-4)


def test_masking_is_strict_like_the_reference() -> None:
    # equal calibrated values: std 0, threshold = mean, and the reference keeps only values > threshold
    assert calibrated_document_scores(torch.ones(4), torch.zeros(4), [(0, 4)]) == [0.0]


def test_passages_are_title_newline_text_cut_at_spaces() -> None:
    icr = ICRReranker(model=MODEL, passage_words=4)
    doc = Document(content="one two  three\nfour five six", meta={"title": "T"})
    assert icr.passages([doc]) == ["T\none two  three\nfour"]  # split(" "): "" and "three\nfour" are words


def test_instruction_is_a_parameter_with_the_reference_variants() -> None:
    qa = ICRReranker(model=MODEL, instruction="qa")
    assert qa.instruction == INSTRUCTIONS["qa"]
    assert ICRReranker(model=MODEL).instruction == INSTRUCTIONS["ie"]
    restored = ICRReranker.from_dict(qa.to_dict())
    assert restored.instruction == INSTRUCTIONS["qa"]
    tokenizer = get_llm(MODEL).tokenizer
    text = build_icr_prompt(tokenizer, role_markers(tokenizer), qa.instruction, QUERY, ["x"]).text
    assert "Please answer the following question based on the information in the paragraphs above.\n\nQuery:" in text
    with pytest.raises(InvalidInputError, match="instruction"):
        ICRReranker(model=MODEL, instruction=" ")


def test_passages_are_cut_shorter_until_the_prompt_fits_the_model(icr) -> None:
    """40 passages of 300 words do not fit SmolLM2's context; the fitted ones do, each as long as it can be."""
    words = " ".join(f"cell{i} energy" for i in range(150))
    documents = [Document(id=str(i), content=words) for i in range(40)]
    markers = role_markers(icr.llm.tokenizer)

    def length(passages: list[str]) -> int:
        return len(build_icr_prompt(icr.llm.tokenizer, markers, icr.instruction, QUERY, passages).ids)

    assert length(icr.passages(documents)) > icr.llm.context_length
    words = icr.fitted_words(QUERY, documents)
    fitted = icr.passages(documents, words)
    assert length(fitted) <= icr.llm.context_length
    assert 1 < words < 300 and len(fitted[0].split(" ")) == words and length(fitted) > 0.8 * icr.llm.context_length
    assert icr.fitted_words(QUERY, DOCS) == icr.passage_words  # short candidates stay whole
