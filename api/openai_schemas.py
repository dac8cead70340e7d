"""OpenAI-compatible chat completions: the request shape the ``openai`` SDK sends, with our retrieval options as
extra fields (the SDK's ``extra_body``). The last user message is the question; ``model`` is ``rag:COLLECTION``
(answered by the default LLM) or an LLM name with ``collection`` in the extra fields."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas import AnswerFormatName, Compressor, RerankMethod, Retriever, known_model
from api.valid_text import ValidText

RAG_PREFIX = "rag:"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text (text parts of a multi-part content joined)."""
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(ValidText):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="rag:COLLECTION, or an LLM / adapter name with `collection`")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2048)
    temperature: float | None = Field(default=None, ge=0, le=2, description="accepted; decoding is greedy")
    top_p: float | None = Field(default=None, gt=0, le=1, description="accepted; decoding is greedy")
    n: Literal[1] = 1
    user: str | None = None
    stream_options: dict[str, Any] | None = None
    # ours, sent through the SDK's extra_body
    collection: str | None = Field(default=None, min_length=1)
    top_k: int = Field(default=5, ge=0, le=100, strict=True)
    retriever: Retriever = "bm25"
    rerank: RerankMethod | None = None
    candidates: int = Field(default=20, ge=1)
    compressor: Compressor | None = None
    answer_format: AnswerFormatName = "short"
    passage_words: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _question_and_collection(self) -> "ChatCompletionRequest":
        if not self.question().strip():
            raise ValueError("messages: the last user message must contain text (it is the question)")
        if not self.model.startswith(RAG_PREFIX):
            known_model(self.model)
        named = self.model.startswith(RAG_PREFIX) and self.model[len(RAG_PREFIX):].strip()
        if self.collection is None and not named:
            raise ValueError("name a collection: model 'rag:COLLECTION' or the extra field 'collection'")
        return self

    def question(self) -> str:
        return next((m.text() for m in reversed(self.messages) if m.role == "user"), "")

    def target(self) -> tuple[str, str | None]:
        """(collection, LLM or None for the default)."""
        if self.model.startswith(RAG_PREFIX):
            return self.collection or self.model[len(RAG_PREFIX):], None
        return str(self.collection), self.model


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail
