"""OpenAI-compatible chat completions: the request shape the ``openai`` SDK sends, with our retrieval options as
extra fields (the SDK's ``extra_body``). The last user message is the question and the messages before it the
conversation (system prompt, earlier turns); ``model`` is ``rag:COLLECTION`` (answered by the default LLM) or an LLM
name with ``collection`` in the extra fields. OpenAI options this service does not apply (tools, JSON modes,
sampling, penalties, …) and fields it does not know (newer SDKs add some) are accepted and named by ``ignored()``;
our own fields are validated."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.model_aliases import resolve_alias
from api.schemas import AnswerFormatName, Compressor, RerankMethod, Retriever, known_model
from api.valid_text import ValidText
from rag.conversation import Conversation, conversation

RAG_PREFIX = "rag:"
MAX_STOP_CHARS = 256
StopString = Annotated[str, Field(min_length=1, max_length=MAX_STOP_CHARS)]
# OpenAI options accepted and not applied, and the values of them that ask for nothing (those are not reported)
NOT_APPLIED: dict[str, tuple[Any, ...]] = {
    "temperature": (0,), "top_p": (1,), "response_format": ({"type": "text"},), "tools": ([],),
    "tool_choice": ("none",), "functions": ([],), "function_call": ("none",), "parallel_tool_calls": (),
    "logprobs": (False,), "top_logprobs": (0,), "presence_penalty": (0,), "frequency_penalty": (0,),
    "logit_bias": ({},), "metadata": ({},), "store": (False,), "service_tier": (), "reasoning_effort": (),
    "modalities": (["text"],), "user": (),
}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text (text parts of a multi-part content joined)."""
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(ValidText):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="rag:COLLECTION, or an LLM / adapter name with `collection`")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2048)
    stop: StopString | Annotated[list[StopString], Field(max_length=4)] | None = Field(
        default=None, description="ends the answer before the first of these strings")
    seed: int | None = Field(default=None, description="accepted: decoding is greedy, every answer is deterministic")
    n: Literal[1] | None = None
    stream_options: dict[str, Any] | None = None
    # accepted, not applied (named in the X-Siftrag-Ignored header); types checked loosely
    temperature: float | None = Field(default=None, ge=0, le=2, description="decoding is greedy (temperature 0)")
    top_p: float | None = Field(default=None, gt=0, le=1, description="decoding is greedy")
    response_format: dict[str, Any] | None = Field(default=None, description='{"type": "text"} only is applied')
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    reasoning_effort: str | None = None
    modalities: list[str] | None = None
    user: str | None = None
    # ours, sent through the SDK's extra_body
    collection: str | None = Field(default=None, min_length=1)
    top_k: int = Field(default=5, ge=0, le=100, strict=True)
    retriever: Retriever = "bm25"
    rerank: RerankMethod | None = None
    candidates: int = Field(default=20, ge=1)
    compressor: Compressor | None = None
    answer_format: AnswerFormatName = "short"
    passage_words: int | None = Field(default=None, ge=1, le=1000)
    citation_style: Literal["field", "footnotes"] = Field(
        default="field", description="footnotes: the cited passages also end the content as `[n]: title — id` lines")
    query_rewrite: Literal["history", "none"] = Field(
        default="history", description="history: a follow-up question is searched with the turns it follows")

    @model_validator(mode="after")
    def _question_and_collection(self) -> ChatCompletionRequest:
        if not self.question().strip():
            raise ValueError("messages: the last user message must contain text (it is the question)")
        model = self.served_model()
        if not model.startswith(RAG_PREFIX):
            known_model(model)
        named = model.startswith(RAG_PREFIX) and model[len(RAG_PREFIX):].strip()
        if self.collection is None and not named:
            raise ValueError("name a collection: model 'rag:COLLECTION' or the extra field 'collection'")
        return self

    def question(self) -> str:
        return next((m.text() for m in reversed(self.messages) if m.role == "user"), "")

    def conversation(self) -> Conversation:
        """The system prompt and the turns before the question."""
        return conversation([(m.role, m.text()) for m in self.messages])[1]

    def stop_strings(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def ignored(self) -> list[str]:
        """The fields given that change nothing here: OpenAI options not applied (with a value that asks for
        something), then fields this service does not know."""
        named = [name for name, neutral in NOT_APPLIED.items()
                 if name in self.model_fields_set and getattr(self, name) is not None
                 and getattr(self, name) not in neutral]
        return named + sorted(self.model_extra or {})

    def target(self) -> tuple[str, str | None]:
        """(collection, LLM or None for the default)."""
        model = self.served_model()
        if model.startswith(RAG_PREFIX):
            return self.collection or model[len(RAG_PREFIX):], None
        return str(self.collection), model

    def served_model(self) -> str:
        """``model``, or what the operator's alias table maps it to (``gpt-4o-mini`` → ``rag:docs``)."""
        return resolve_alias(self.model)


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail
