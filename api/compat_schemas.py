"""Request shapes of the rerank APIs that clients already speak: Cohere ``/v2/rerank`` (also v1's and Jina's
fields, which those clients post to ``/v1/rerank``) and Hugging Face TEI ``/rerank``. ``model`` names one of our
methods, optionally with its LLM (``tilde``, ``first``, ``icr:qwen2.5-coder-0.5b-instruct``), or an operator's alias
of one. Fields these APIs' newer clients add are accepted and named in ``X-Siftrag-Ignored``."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from api.deadline import DeadlineMs
from api.model_aliases import resolve_alias
from api.valid_text import ValidText
from core.errors import InvalidInputError
from core.model_registry import is_request_model_name
from rerankers.registry import LLM_METHODS, METHODS

Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
DEADLINE_DESCRIPTION = ("our extension (or the X-Deadline-Ms header): when reranking has not finished by then, a 504 "
                        "in this API's error shape, and the work stops")


def method_and_model(name: str) -> tuple[str, str | None]:
    """``METHOD`` or ``METHOD:MODEL`` (or an alias of one) → (method, LLM or None); anything else is a ValueError
    with the choices."""
    method, _, model = resolve_alias(name).partition(":")
    if method not in METHODS:
        raise ValueError(f"model '{name}' names no rerank method: use one of {', '.join(METHODS)}, optionally "
                         "followed by ':LLM' for the LLM methods (e.g. icr:qwen2.5-coder-0.5b-instruct), or an "
                         "alias the operator set in SIFTRAG_MODEL_ALIASES")
    if model and (method not in LLM_METHODS or not is_request_model_name(model)):
        raise ValueError(f"model '{name}': only the LLM methods ({', '.join(LLM_METHODS)}) take ':LLM', and the LLM "
                         "must be a registry LLM, a trained adapter or one the operator allowed")
    return method, model or None


class CompatRequest(ValidText):
    """A request of another API's shape: fields this shape does not know are kept aside, applied to nothing."""

    model_config = ConfigDict(extra="allow")

    def ignored(self) -> list[str]:
        """The fields given that were not applied (for ``X-Siftrag-Ignored``)."""
        return list(self.model_extra or {})


class CohereRerankRequest(CompatRequest):
    """Cohere v2 (``documents`` as strings), v1 (objects with ``rank_fields``, ``return_documents``,
    ``max_chunks_per_doc``) and Jina (``return_documents``) in one shape."""

    model: str = Field(description="rerank method, optionally :LLM, e.g. tilde, first, icr:qwen2.5-coder-0.5b-instruct")
    query: Text
    documents: list[str | dict[str, Any]] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1, strict=True)
    max_tokens_per_doc: int = Field(default=4096, ge=16, le=32768, strict=True, description="tokens of a document "
                                    "read (the rest is cut, as Cohere does); they are split into chunks of the "
                                    "method's input length, and a document scores its best chunk")
    max_chunks_per_doc: int | None = Field(default=None, ge=1, le=1000, strict=True, description="v1: at most this "
                                           "many chunks per document (default: all within max_tokens_per_doc)")
    rank_fields: list[str] | None = Field(default=None, min_length=1, description="v1: fields of object documents "
                                          "ranked on, joined (default: text)")
    return_documents: bool = Field(default=False, strict=True)
    deadline_ms: DeadlineMs | SkipJsonSchema[None] = Field(default=None, description=DEADLINE_DESCRIPTION)

    @field_validator("model")
    @classmethod
    def _method(cls, value: str) -> str:
        method_and_model(value)
        return value

    def texts(self) -> list[str]:
        """Each document as the text ranked on: a string, or its ``rank_fields`` (default ``text``) joined."""
        fields = self.rank_fields or ["text"]
        texts = []
        for number, document in enumerate(self.documents):
            if isinstance(document, str):
                texts.append(document)
                continue
            missing = [f for f in fields if not isinstance(document.get(f), str)]
            if missing:
                raise InvalidInputError(f"documents.{number}: no text field '{missing[0]}' to rank on.")
            texts.append("\n".join(document[f] for f in fields))
        return texts


class TeiRerankRequest(CompatRequest):
    """Hugging Face TEI's ``/rerank``; ``model`` (our extension) picks the method, default the setting."""

    query: Text
    texts: list[str] = Field(min_length=1)
    truncate: bool = Field(default=False, strict=True, description="keep only the first 512 tokens of each text "
                                                                   "(else: chunk and score the best chunk)")
    truncation_direction: Literal["Right", "Left"] = "Right"
    raw_scores: bool = Field(default=False, strict=True, description="the method's own scores instead of "
                             "calibrated probabilities of relevance in [0, 1]")
    return_text: bool = Field(default=False, strict=True)
    model: str | None = None
    deadline_ms: DeadlineMs | SkipJsonSchema[None] = Field(default=None, description=DEADLINE_DESCRIPTION)

    @field_validator("model")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None:
            method_and_model(value)
        return value


class CohereResult(BaseModel):
    index: int
    relevance_score: float = Field(description="calibrated probability of relevance (docs/rerankers.md)")
    raw_score: float = Field(description="the method's own score of the document's best chunk")
    chunks: int = Field(description="chunks the document was split into (1: it fit)")
    truncated: bool = Field(description="text beyond max_tokens_per_doc (or max_chunks_per_doc chunks) was not "
                            "scored")
    document: dict[str, Any] | None = None


class CohereRerankResponse(BaseModel):
    id: str
    model: str = Field(description="the model the request named (Jina's clients read it)")
    results: list[CohereResult]
    meta: dict[str, Any]
    usage: dict[str, int]


class TeiResult(BaseModel):
    index: int
    score: float = Field(description="calibrated probability of relevance, or the method's own score with "
                         "raw_scores")
    chunks: int
    truncated: bool
    text: str | None = None


class CohereError(BaseModel):
    message: str


class TeiError(BaseModel):
    error: str
    error_type: str
