"""One wrapper over a Hugging Face causal LM, shared by every LLM method.

- ``next_token_logprobs``: batched log-probs of the token after each prompt (left padding), shared with
  concurrent requests through ``core/next_token_batcher.py``.
- ``query_attention``: attention from query spans to every earlier position, per layer and head,
  computed from a cached document prefix, so only Lq × L rows are ever materialized.
- ``generate``: greedy generation with per-step log-probs and entropy; ``generate_batch`` for many
  prompts at once (left padding); ``stream`` yields text as it is generated and stops when cancelled. They decode
  on llama.cpp where the model has it (``core/generation_engine.py``, ``docs/generation.md``), else here.
- ``with_delta``: a LoRA delta (``core/lora_delta.py``) added to the MLPs for the calling context only;
  ``lm_outputs``: one sequence's logits and LM loss under a delta, differentiable (DyPRAG's translator
  training); ``last_token_states``: last-layer hidden states (DyPRAG's document embeddings).
Device and dtype are chosen once (CUDA + bf16 when present); the weights are frozen. Calls are serialized by a
lock; no module outside ``core`` touches the model.
"""
from __future__ import annotations

import contextvars
import queue
import re
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal

import torch
from transformers import PretrainedConfig, StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from core.deadline import DeadlineExceeded, check_deadline, current_deadline, in_batches
from core.errors import InvalidInputError
from core.fast_generation import Step, greedy_steps
from core.generation_engine import LLAMA_CPP, llama_cpp_decoder
from core.llama_cpp_decoder import LlamaCppDecoder
from core.lora_delta import LoraDelta, active, current, install_delta_hooks
from core.model_cache import ModelCache
from core.model_loading import load_causal_lm
from core.next_token_batcher import NextTokenBatcher, token_groups
from core.settings import get_settings

TRANSFORMERS = "transformers"
GPU_BATCH_TOKENS = 8192  # padded tokens per shared forward pass on CUDA when SIFTRAG_LLM_BATCH_TOKENS is unset
DEADLINE_TOKENS = 64  # tokens a forward pass reads while a request's deadline applies, so the work stops within one
# such pass of it (SmolLM2-135M on 2 cores: ~6 ms of CPU a token, so ~0.4 s; a 4,000-token FIRST window in one pass:
# ~20 s of CPU)


@dataclass
class CallCounter:
    """Model cost of one request: forward passes and tokens in and out."""

    forward_passes: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    generation_engines: set[str] = field(default_factory=set)  # the engines that generated text for the request

    def read_prompt(self, tokens: int) -> None:
        """Count ``tokens`` prompt tokens the model read."""
        self.prompt_tokens += tokens

    def as_dict(self) -> dict[str, int | str]:
        counts: dict[str, int | str] = {"forward_passes": self.forward_passes, "prompt_tokens": self.prompt_tokens,
                                        "generated_tokens": self.generated_tokens}
        if self.generation_engines:
            counts["generation_engine"] = "+".join(sorted(self.generation_engines))
        return counts


FinishReason = Literal["stop", "length", "cancelled"]


@dataclass
class Generation:
    text: str
    token_ids: list[int]
    logprobs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    finished: bool = False  # generation ended on the end-of-sequence token (not on a stop string or the cap)
    finish_reason: FinishReason = "length"  # "stop": end-of-sequence or a stop rule; "length": max_new_tokens
    engine: str = TRANSFORMERS


@dataclass
class PromptPrefix:
    """The token ids of a prompt the base model has read and its KV cache over them (a transformers ``Cache``):
    ``generate``/``stream`` of a prompt that extends it encode only the rest. Used once (generation extends the
    cache)."""
    ids: list[int]
    cache: object

    def reusable_for(self, ids: list[int]) -> bool:
        """Whether ``ids`` extend these ids by at least one token and no delta is active (the cache is the base
        model's)."""
        return len(ids) > len(self.ids) and ids[:len(self.ids)] == self.ids and current() is None


@dataclass(frozen=True)
class Decoding:
    """How greedy decoding ends and guards against loops: ``stop`` ends it once the generated text (never
    the prompt) matches, and the text is cut at the match's end; ``repetition_penalty`` (> 1 discourages
    tokens already in the prompt or answer) and ``no_repeat_ngram_size`` (0: off) are transformers'."""

    stop: re.Pattern[str] | None = None
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0

    def generate_kwargs(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.repetition_penalty != 1.0:
            extra["repetition_penalty"] = self.repetition_penalty
        if self.no_repeat_ngram_size:
            extra["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        return extra

    def cut(self, text: str) -> tuple[str, bool]:
        """``text`` up to the end of the stop match, and whether the stop rule matched."""
        match = self.stop.search(text) if self.stop else None
        return (text[:match.end()], True) if match else (text, False)


class _DeadlinePassed(StoppingCriteria):
    """Ends decoding once the current request's deadline has passed (``generate`` then raises)."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        try:
            check_deadline()
            passed = False
        except DeadlineExceeded:
            passed = True
        return torch.full((input_ids.shape[0],), passed, dtype=torch.bool, device=input_ids.device)


class LLMBackend:
    """A causal LM with its tokenizer; prefill runs with SDPA, attention readout with eager kernels."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.model, self.tokenizer = load_causal_lm(model_name, attn_implementation="sdpa")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.requires_grad_(False)  # gradients reach only an injected delta (``lm_outputs``)
        self.device = next(self.model.parameters()).device
        self.dtype = next(self.model.parameters()).dtype
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 4096))
        self.lock = threading.RLock()
        settings = get_settings()
        batch_tokens = settings.llm_batch_tokens
        if batch_tokens is None:  # bench_llm_batching on 2 CPU cores: FIRST 0.82x, pointwise 0.93x with batching
            batch_tokens = GPU_BATCH_TOKENS if self.device.type == "cuda" else 0
        self.batcher = NextTokenBatcher(self.forward_next_token, self.encode_prompts, model_name,
                                        settings.batch_wait_ms, batch_tokens) if batch_tokens > 0 else None
        self.engine_setting = settings.llm_engine
        self._fast: LlamaCppDecoder | None | Literal[False] = False  # False: not made yet (on first generation)
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = {*(eos if isinstance(eos, list) else [eos] if eos is not None else []),
                        self.tokenizer.eos_token_id} - {None}

    @property
    def memory_bytes(self) -> int:
        """Bytes of the weights and buffers (and of llama.cpp's model and KV cache): what holding this backend
        costs."""
        weights = sum(t.numel() * t.element_size() for t in chain(self.model.parameters(), self.model.buffers()))
        return weights + (self._fast.memory_bytes if self._fast else 0)

    @property
    def fast(self) -> LlamaCppDecoder | None:
        """The llama.cpp decoder that generates for this model (``core/generation_engine.py``), made at first use
        (models that only score never load it), or None."""
        if self._fast is False:
            with self.lock:
                if self._fast is False:
                    self._fast = llama_cpp_decoder(self.model_name, self.model.config, self.context_length,
                                                   torch.get_num_threads(), self.engine_setting)
        return self._fast

    def generation_engine(self, prompt_ids: list[int], max_new_tokens: int,
                          prefix: PromptPrefix | None = None) -> str:
        """The engine that generates in this context: llama.cpp when the model has it, no LoRA delta is active and
        the prompt plus answer fit its context; transformers when the prompt extends a ``prefix`` it has read
        already (a yes/no head's decision: re-reading the prompt on llama.cpp costs more than the few tokens
        after it)."""
        if prefix is not None and prefix.reusable_for(prompt_ids):
            return TRANSFORMERS
        fits = self.fast is not None and len(prompt_ids) + max_new_tokens <= self.fast.context_length
        return LLAMA_CPP if fits and current() is None else TRANSFORMERS

    @property
    def config(self) -> PretrainedConfig:
        """The model's configuration (layers, heads, hidden sizes); read only."""
        return self.model.config

    # -- text -------------------------------------------------------------------------------
    def chat_prompt(self, user: str, system: str | None = None, assistant_prefix: str = "",
                    examples: Sequence[tuple[str, str]] = ()) -> str:
        """The model's chat template around one user turn, ready for the assistant's reply; ``examples`` are
        (user, assistant) demonstration turns placed before it."""
        messages = [{"role": "system", "content": system}] if system else []
        for shown, reply in examples:
            messages += [{"role": "user", "content": shown}, {"role": "assistant", "content": reply}]
        messages.append({"role": "user", "content": user})
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return prompt + assistant_prefix

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def check_fits(self, n_tokens: int, what: str) -> None:
        if n_tokens > self.context_length:
            raise InvalidInputError(
                f"{what} needs {n_tokens} tokens but {self.model_name} reads at most {self.context_length}: "
                "use fewer or shorter passages (passage_words) or windows."
            )

    # -- scoring ----------------------------------------------------------------------------
    def next_token_logprobs(self, prompts: list[str], counter: CallCounter | None = None,
                            batch_size: int = 4) -> torch.Tensor:
        """[len(prompts), vocab] log-probs of the next token after each prompt. With cross-request batching on
        (``SIFTRAG_LLM_BATCH_TOKENS`` > 0) the prompts share forward passes with concurrent requests' (grouped by
        that token budget); otherwise they run ``batch_size`` at a time."""
        if self.batcher is not None:
            rows, forwards, tokens = self.batcher.logprobs(prompts)
        else:
            parts = [self.forward_next_token(self.encode_prompts(list(batch)))
                     for batch in in_batches(prompts, batch_size)]
            rows = torch.cat([part for part, _ in parts])
            forwards, tokens = len(parts), sum(sum(counts) for _, counts in parts)
        if counter:
            counter.forward_passes += forwards
            counter.prompt_tokens += tokens
        return rows

    def encode_prompts(self, prompts: list[str]) -> list[list[int]]:
        """Each prompt's token ids (one batched tokenizer call)."""
        return self.tokenizer(prompts, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def forward_next_token(self, prompt_ids: list[list[int]]) -> tuple[torch.Tensor, list[int]]:
        """One forward pass over the prompts (token ids), left-padded: ([len(prompt_ids), vocab] next-token
        log-probs on the CPU, each prompt's tokens). Under a request's deadline, passes of at most
        ``DEADLINE_TOKENS`` tokens (padding included) with the deadline checked between them."""
        if current_deadline() is not None and len(prompt_ids) * max(map(len, prompt_ids)) > DEADLINE_TOKENS:
            return self._forward_next_token_in_small_passes(prompt_ids)
        with self.lock:
            batch = self.tokenizer.pad({"input_ids": prompt_ids}, return_tensors="pt").to(self.device)
            self.check_fits(batch.input_ids.shape[1], "A prompt")
            logits = self.model(**batch, use_cache=False, logits_to_keep=1).logits[:, -1, :]
        return torch.log_softmax(logits.float(), dim=-1).cpu(), [len(ids) for ids in prompt_ids]

    def _forward_next_token_in_small_passes(self, prompt_ids: list[list[int]]) -> tuple[torch.Tensor, list[int]]:
        """``forward_next_token`` as passes of at most ``DEADLINE_TOKENS`` tokens: short prompts grouped, a longer
        one read alone in chunks through its KV cache (``read_in_chunks``)."""
        rows: dict[int, torch.Tensor] = {}
        for group in token_groups([len(ids) for ids in prompt_ids], DEADLINE_TOKENS):
            check_deadline()
            if len(group) > 1 or len(prompt_ids[group[0]]) <= DEADLINE_TOKENS:
                logprobs, _ = self.forward_next_token([prompt_ids[i] for i in group])
                rows.update(zip(group, logprobs))
                continue
            self.check_fits(len(prompt_ids[group[0]]), "A prompt")
            with self.lock:
                logits = self.read_in_chunks(prompt_ids[group[0]])[0].logits[0, -1, :]
            rows[group[0]] = torch.log_softmax(logits.float(), dim=-1).cpu()
        return torch.stack([rows[i] for i in range(len(prompt_ids))]), [len(ids) for ids in prompt_ids]

    @torch.no_grad()
    def read_in_chunks(self, ids: list[int], **outputs: bool) -> tuple[Any, int]:
        """(the model's output at the last position after reading the one sequence ``ids``, with its KV cache and
        the ``outputs`` asked for (e.g. ``output_hidden_states``); forward passes made). Under a request's deadline
        the sequence is read ``DEADLINE_TOKENS`` at a time through the cache, the deadline checked between; else in
        one pass. Call with the lock held."""
        step = DEADLINE_TOKENS if current_deadline() is not None else len(ids)
        out, cache, passes = None, None, 0
        for start in range(0, len(ids), step):
            if passes:
                check_deadline()
            out = self.model(torch.tensor([ids[start:start + step]], device=self.device), cache=cache,
                             use_cache=True, logits_to_keep=1, **outputs)
            cache, passes = out.cache, passes + 1
        return out, passes

    @torch.no_grad()
    def score_continuation(self, prompt: str, continuation_ids: list[int],
                           counter: CallCounter | None = None) -> Generation:
        """Teacher-forced ``continuation_ids`` after ``prompt``: the log-prob and entropy of each token's
        distribution, as ``generate`` reports them for its own tokens."""
        prompt_ids = self.encode(prompt)
        self.check_fits(len(prompt_ids) + len(continuation_ids), "The prompt plus the continuation")
        with self.lock:
            ids = torch.tensor([prompt_ids + continuation_ids], device=self.device)
            logits = self.model(ids, use_cache=False).logits[0, len(prompt_ids) - 1:-1].float()
        distribution = torch.log_softmax(logits, dim=-1)
        chosen = distribution[torch.arange(len(continuation_ids)), torch.tensor(continuation_ids)]
        entropies = -(distribution.exp() * distribution).sum(dim=-1)
        if counter:
            counter.forward_passes += 1
            counter.prompt_tokens += len(prompt_ids) + len(continuation_ids)
        return Generation(text=self.tokenizer.decode(continuation_ids), token_ids=list(continuation_ids),
                          logprobs=chosen.cpu().tolist(), entropies=entropies.cpu().tolist())

    @torch.no_grad()
    def query_attention(self, prefix_ids: list[int], spans: list[list[int]], layers: range | None = None,
                        counter: CallCounter | None = None) -> list[torch.Tensor]:
        """For each query span (appended after the shared prefix), the attention its tokens pay to every
        position: a [layers, heads, Lq, Lprefix + Lq] tensor. The prefix is encoded once; its KV cache is
        reused by every span, so no L × L attention matrix is kept."""
        self.check_fits(len(prefix_ids) + max(len(s) for s in spans), "The prompt")
        chosen = layers or range(self.model.config.num_hidden_layers)
        outputs = []
        with self.lock:
            out, passes = self.read_in_chunks(prefix_ids)
            cache = out.cache
            if counter:
                counter.forward_passes += passes
                counter.prompt_tokens += len(prefix_ids)
            self.model.set_attn_implementation("eager")
            try:
                for span in spans:
                    check_deadline()
                    out = self.model(torch.tensor([span], device=self.device), cache=cache, use_cache=True,
                                     output_attentions=True, logits_to_keep=1)
                    outputs.append(torch.stack([out.attentions[i][0].float().cpu() for i in chosen]))
                    cache.crop(len(prefix_ids) - cache.get_seq_length())
                    if counter:
                        counter.forward_passes += 1
                        counter.prompt_tokens += len(span)
            finally:
                self.model.set_attn_implementation("sdpa")
        return outputs

    @torch.no_grad()
    def full_attention(self, ids: list[int]) -> tuple[torch.Tensor, ...]:
        """Every layer's full attention of one short input (eager). For tests and small inputs only."""
        with self.lock:
            self.model.set_attn_implementation("eager")
            try:
                out = self.model(torch.tensor([ids], device=self.device), output_attentions=True, use_cache=False)
            finally:
                self.model.set_attn_implementation("sdpa")
        return tuple(a[0].float().cpu() for a in out.attentions)

    def last_token_states(self, texts: list[str], max_tokens: int, counter: CallCounter | None = None) -> torch.Tensor:
        """[len(texts), hidden] float32 on the CPU: the base model's (no delta) last-layer hidden state at each
        text's last token, from one left-padded forward pass (each text cut to ``max_tokens``)."""
        return self.layer_states(texts, max_tokens, counter)[:, -1]

    @torch.no_grad()
    def layer_states(self, texts: list[str], max_tokens: int, counter: CallCounter | None = None) -> torch.Tensor:
        """[len(texts), layers + 1, hidden] float32 on the CPU: the base model's (no delta) hidden state at each
        text's last token after the embeddings and after every layer (the last one normed, as the LM head reads it),
        from one left-padded forward pass (each text cut to ``max_tokens``)."""
        with self.lock, active(None):
            batch = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_tokens,
                                   add_special_tokens=False).to(self.device)
            out = self.model(**batch, output_hidden_states=True, use_cache=False, logits_to_keep=1)
        if counter:
            counter.forward_passes += 1
            counter.prompt_tokens += int(batch.attention_mask.sum())
        return torch.stack([h[:, -1, :] for h in out.hidden_states], dim=1).float().cpu()

    @torch.no_grad()
    def prefill_states(self, text: str, counter: CallCounter | None = None) -> tuple[torch.Tensor, PromptPrefix]:
        """[layers + 1, hidden] float32 on the CPU: the base model's hidden states at the text's last token, as
        ``layer_states`` gives them, and the prefix to generate a continuation of ``text`` from without reading it
        again."""
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        self.check_fits(len(ids), "The prompt")
        with self.lock, active(None):
            out, passes = self.read_in_chunks(ids, output_hidden_states=True)
        if counter:
            counter.forward_passes += passes
            counter.prompt_tokens += len(ids)
        states = torch.stack([h[0, -1, :] for h in out.hidden_states]).float().cpu()
        return states, PromptPrefix(ids, out.cache)

    # -- LoRA deltas ------------------------------------------------------------------------
    @contextmanager
    def with_delta(self, delta: LoraDelta | None) -> Iterator[None]:
        """Every call made in this context (this thread or task only) runs with ``delta`` added to the MLP
        projections; None: the base model. The hooks are installed on first use."""
        with self.lock:
            install_delta_hooks(self.model)
        with active(delta):
            yield

    def lm_outputs(self, ids: list[int], delta: LoraDelta | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One sequence with ``delta`` injected: its logits [len(ids), vocab] (the model's dtype) and its LM loss
        (mean over every position). Runs in the caller's grad mode: gradients reach the delta's factors only."""
        with self.with_delta(delta), self.lock:
            inputs = torch.tensor([ids], device=self.device)
            out = self.model(inputs, labels=inputs, use_cache=False)
        return out.logits[0], out.loss

    # -- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompt: str, max_new_tokens: int, counter: CallCounter | None = None,
                 stop_strings: list[str] | None = None, decoding: Decoding = Decoding(),
                 prefix: PromptPrefix | None = None) -> Generation:
        """Greedy decoding with the log-prob and the entropy of each step's distribution; stops once the
        generated text (never the prompt) contains one of ``stop_strings`` (the text keeps the token that
        completed it) or matches ``decoding.stop`` (the text is cut at the match). A ``prefix`` the prompt
        extends is not read again."""
        with self.lock:
            check_deadline()
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            self.check_fits(inputs.input_ids.shape[1] + max_new_tokens, "The prompt plus the answer")
            prompt_ids = inputs.input_ids[0].tolist()
            if self.generation_engine(prompt_ids, max_new_tokens, prefix) == LLAMA_CPP:
                return self._generate_fast(prompt_ids, max_new_tokens, counter, stop_strings or [], decoding)
            prefix = prefix or self._prefix_under_deadline(prompt_ids, counter)
            watch = _StopInGenerated(self.tokenizer, inputs.input_ids.shape[1], stop_strings or [], decoding.stop)
            cached, reused = _cached_prefix(prefix, inputs.input_ids)
            out = self.model.generate(
                **inputs, **cached, max_new_tokens=max_new_tokens, do_sample=False, output_logits=True,
                return_dict_in_generate=True, pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([watch, _DeadlinePassed()] if watch.active
                                                       else [_DeadlinePassed()]),
                temperature=None, top_p=None, top_k=None, **decoding.generate_kwargs(),
            )
            check_deadline()
        new_ids = out.sequences[0, inputs.input_ids.shape[1]:].tolist()
        logprobs, entropies = [], []
        for step, logits in enumerate(out.logits):
            distribution = torch.log_softmax(logits[0].float(), dim=-1)
            logprobs.append(float(distribution[new_ids[step]]))
            entropies.append(float(-(distribution.exp() * distribution).sum()))
        finished = bool(new_ids) and new_ids[-1] == self.tokenizer.eos_token_id
        if finished:
            new_ids, logprobs, entropies = new_ids[:-1], logprobs[:-1], entropies[:-1]
        if counter:
            counter.forward_passes += len(out.logits)
            counter.prompt_tokens += inputs.input_ids.shape[1] - reused
            counter.generated_tokens += len(out.logits)
            counter.generation_engines.add(TRANSFORMERS)
        text, matched = decoding.cut(self.tokenizer.decode(new_ids, skip_special_tokens=True))
        stopped = finished or matched or watch.stopped
        return Generation(text=text, token_ids=new_ids, logprobs=logprobs, entropies=entropies, finished=finished,
                          finish_reason="stop" if stopped else "length")

    def _prefix_under_deadline(self, prompt_ids: list[int], counter: CallCounter | None) -> PromptPrefix | None:
        """Under a request's deadline, a long prompt's tokens but its last read in chunks (``read_in_chunks``), as
        the prefix ``generate`` continues from; else None (``generate`` reads the prompt in one pass)."""
        if current_deadline() is None or len(prompt_ids) <= DEADLINE_TOKENS or current() is not None:
            return None
        out, passes = self.read_in_chunks(prompt_ids[:-1])
        if counter:
            counter.forward_passes += passes
            counter.prompt_tokens += len(prompt_ids) - 1
        return PromptPrefix(prompt_ids[:-1], out.cache)

    def _fast_steps(self, prompt_ids: list[int], max_new_tokens: int, counter: CallCounter | None,
                    decoding: Decoding, stop_strings: list[str], cancel: threading.Event | None = None,
                    ) -> Generator[Step, None, tuple[bool, bool]]:
        """llama.cpp's greedy steps under ``generate``'s rules; returns (ended on end-of-sequence, a stop rule
        matched). The end-of-sequence step is counted, not yielded. Call with the lock held."""
        ids: list[int] = []
        ended = matched = False
        steps = greedy_steps(self.fast, prompt_ids, max_new_tokens, decoding.repetition_penalty,
                             decoding.no_repeat_ngram_size, counter.read_prompt if counter else None)
        for step in steps:
            if counter:
                counter.forward_passes += 1
                counter.generated_tokens += 1
            if step.token_id in self.eos_ids:
                ended = True
                break
            ids.append(step.token_id)
            yield step
            if stop_strings or decoding.stop:
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                matched = any(s in text for s in stop_strings) or bool(decoding.stop and decoding.stop.search(text))
            if matched or (cancel is not None and cancel.is_set()):
                break
        if counter:
            counter.generation_engines.add(LLAMA_CPP)
        return ended, matched

    def _generate_fast(self, prompt_ids: list[int], max_new_tokens: int, counter: CallCounter | None,
                       stop_strings: list[str], decoding: Decoding) -> Generation:
        steps: list[Step] = []
        run = self._fast_steps(prompt_ids, max_new_tokens, counter, decoding, stop_strings)
        while True:
            try:
                steps.append(next(run))
            except StopIteration as done:
                ended, matched = done.value
                break
        ids = [step.token_id for step in steps]
        text, cut = decoding.cut(self.tokenizer.decode(ids, skip_special_tokens=True))
        return Generation(text=text, token_ids=ids, logprobs=[step.logprob for step in steps],
                          entropies=[step.entropy for step in steps], finished=ended,
                          finish_reason="stop" if ended or matched or cut else "length", engine=LLAMA_CPP)

    @torch.no_grad()
    def generate_batch(self, prompts: list[str], max_new_tokens: int, counter: CallCounter | None = None,
                       batch_size: int = 8) -> list[str]:
        """Greedy completions of several prompts, ``batch_size`` at a time (left padding); on llama.cpp one after
        the other (16 summaries of 100-word passages: 6.6 s, against 11.0 s in batches of 8 on transformers)."""
        texts: list[str] = []
        with self.lock:
            ids = [self.encode(prompt) for prompt in prompts]
            if ids and all(self.generation_engine(i, max_new_tokens) == LLAMA_CPP for i in ids):
                return [self._generate_fast(i, max_new_tokens, counter, [], Decoding()).text.strip() for i in ids]
            for chosen in in_batches(prompts, batch_size):  # a request's deadline: checked between batches and steps
                batch = self.tokenizer(list(chosen), return_tensors="pt", padding=True,
                                       add_special_tokens=False).to(self.device)
                self.check_fits(batch.input_ids.shape[1] + max_new_tokens, "A prompt plus its completion")
                sequences = self.model.generate(
                    **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.tokenizer.pad_token_id,
                    temperature=None, top_p=None, top_k=None, stopping_criteria=StoppingCriteriaList([_DeadlinePassed()]),
                )[:, batch.input_ids.shape[1]:]
                check_deadline()
                texts += self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
                if counter:
                    generated = int((sequences != self.tokenizer.pad_token_id).sum())
                    counter.forward_passes += sequences.shape[1]
                    counter.prompt_tokens += int(batch.attention_mask.sum())
                    counter.generated_tokens += generated
                    counter.generation_engines.add(TRANSFORMERS)
        return [text.strip() for text in texts]

    @torch.no_grad()
    def sample_batch(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.7, top_k: int = 50,
                     seed: int = 0, counter: CallCounter | None = None) -> list[str]:
        """Sampled completions of several prompts at once (left padding), reproducible for a ``seed``."""
        with self.lock:
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True,
                                   add_special_tokens=False).to(self.device)
            self.check_fits(batch.input_ids.shape[1] + max_new_tokens, "A prompt plus its completion")
            generator_state = torch.random.get_rng_state()
            torch.manual_seed(seed)
            try:
                sequences = self.model.generate(
                    **batch, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature, top_k=top_k,
                    top_p=None, pad_token_id=self.tokenizer.pad_token_id,
                )[:, batch.input_ids.shape[1]:]
            finally:
                torch.random.set_rng_state(generator_state)
            if counter:
                counter.forward_passes += sequences.shape[1]
                counter.prompt_tokens += int(batch.attention_mask.sum())
                counter.generated_tokens += int((sequences != self.tokenizer.pad_token_id).sum())
                counter.generation_engines.add(TRANSFORMERS)
        return [text.strip() for text in self.tokenizer.batch_decode(sequences, skip_special_tokens=True)]

    def stream(self, prompt: str, max_new_tokens: int, cancel: threading.Event, counter: CallCounter | None = None,
               decoding: Decoding = Decoding(), prefix: PromptPrefix | None = None) -> Generator[str, None, FinishReason]:
        """Greedy generation yielding text pieces as they are decoded; returns the finish reason. Setting
        ``cancel`` (or closing the iterator) stops the model at its next decoding step; the backend lock is
        held until it has stopped. A ``decoding.stop`` match ends generation (the pieces already yielded
        may run one token past it: cut the joined text with ``decoding.cut``). A ``prefix`` the prompt extends is
        not read again."""
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        cached, reused = _cached_prefix(prefix, inputs.input_ids)
        self.check_fits(inputs.input_ids.shape[1] + max_new_tokens, "The prompt plus the answer")
        prompt_ids = inputs.input_ids[0].tolist()
        if self.generation_engine(prompt_ids, max_new_tokens, prefix) == LLAMA_CPP:
            return (yield from self._stream_fast(prompt_ids, max_new_tokens, cancel, counter, decoding))
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        criteria = _CancelOrCount(cancel, self.tokenizer.eos_token_id)
        watch = _StopInGenerated(self.tokenizer, inputs.input_ids.shape[1], [], decoding.stop)
        failure: list[BaseException] = []

        def decode() -> None:
            try:
                with self.lock, torch.no_grad():
                    self.model.generate(
                        **inputs, **cached, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([criteria, watch] if watch.active else [criteria]),
                        pad_token_id=self.tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None,
                        **decoding.generate_kwargs(),
                    )
            except BaseException as error:  # surfaced to the consumer below
                failure.append(error)
                streamer.end()

        # the generation thread runs in this context, so per-request state (e.g. a LoRA delta) follows it
        worker = threading.Thread(target=contextvars.copy_context().run, args=(decode,), name="llm-stream",
                                  daemon=True)
        worker.start()
        try:
            yield from streamer
            cancelled = cancel.is_set()
        finally:
            cancel.set()
            worker.join()
            if counter:
                counter.forward_passes += criteria.steps
                counter.prompt_tokens += inputs.input_ids.shape[1] - reused
                counter.generated_tokens += criteria.steps
                counter.generation_engines.add(TRANSFORMERS)
        if failure:
            raise failure[0]
        if watch.stopped or criteria.ended:
            return "stop"
        return "cancelled" if cancelled else "length"

    def _stream_fast(self, prompt_ids: list[int], max_new_tokens: int, cancel: threading.Event,
                     counter: CallCounter | None, decoding: Decoding) -> Generator[str, None, FinishReason]:
        """``stream`` on llama.cpp: a thread decodes under the lock and hands over the text as it grows (a piece
        waits while it ends inside a multi-byte character)."""
        pieces: queue.Queue[str | None] = queue.Queue()
        outcome: list[tuple[bool, bool]] = []
        failure: list[BaseException] = []

        def decode() -> None:
            shown, ids = "", []
            try:
                with self.lock:
                    run = self._fast_steps(prompt_ids, max_new_tokens, counter, decoding, [], cancel)
                    while True:
                        try:
                            ids.append(next(run).token_id)
                        except StopIteration as done:
                            outcome.append(done.value)
                            break
                        text = self.tokenizer.decode(ids, skip_special_tokens=True)
                        if not text.endswith("\ufffd") and len(text) > len(shown):
                            pieces.put(text[len(shown):])
                            shown = text
            except BaseException as error:  # surfaced to the consumer below
                failure.append(error)
            finally:
                pieces.put(None)

        worker = threading.Thread(target=contextvars.copy_context().run, args=(decode,), name="llm-stream",
                                  daemon=True)
        worker.start()
        try:
            while (piece := pieces.get()) is not None:
                yield piece
            cancelled = cancel.is_set()
        finally:
            cancel.set()
            worker.join()
        if failure:
            raise failure[0]
        ended, matched = outcome[0]
        if ended or matched:
            return "stop"
        return "cancelled" if cancelled else "length"


class _StopInGenerated(StoppingCriteria):
    """Stops once the text generated after the prompt contains a stop string or matches ``pattern``.
    (transformers' ``stop_strings`` also match across the prompt's end: a prompt ending in "." stops ". " at
    the first generated " The".)"""

    def __init__(self, tokenizer: object, prompt_length: int, stop_strings: list[str],
                 pattern: re.Pattern[str] | None = None) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.stop_strings = stop_strings
        self.pattern = pattern
        self.active = bool(stop_strings) or pattern is not None
        self.stopped = False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        text = self.tokenizer.decode(input_ids[0, self.prompt_length:], skip_special_tokens=True)
        self.stopped = any(s in text for s in self.stop_strings) or bool(self.pattern and self.pattern.search(text))
        return torch.full((input_ids.shape[0],), self.stopped, dtype=torch.bool, device=input_ids.device)


class _CancelOrCount(StoppingCriteria):
    """Stops generation once ``cancel`` is set; counts the decoding steps it saw and notes an
    end-of-sequence token (``ended``)."""

    def __init__(self, cancel: threading.Event, eos_token_id: int | None = None) -> None:
        self.cancel = cancel
        self.eos_token_id = eos_token_id
        self.steps = 0
        self.ended = False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        self.steps += 1
        self.ended = self.eos_token_id is not None and int(input_ids[0, -1]) == self.eos_token_id
        return torch.full((input_ids.shape[0],), self.cancel.is_set(), dtype=torch.bool, device=input_ids.device)


def _cached_prefix(prefix: PromptPrefix | None, input_ids: torch.Tensor) -> tuple[dict[str, object], int]:
    """(``generate`` keyword arguments, prompt tokens they spare): continue from ``prefix`` when the one prompt in
    ``input_ids`` extends it."""
    if prefix is None or input_ids.shape[0] != 1 or not prefix.reusable_for(input_ids[0].tolist()):
        return {}, 0
    return {"cache": prefix.cache}, len(prefix.ids)


LLM_CACHE: ModelCache[LLMBackend] = ModelCache("llm", LLMBackend, lambda llm: llm.memory_bytes,
                                               lambda: get_settings().llm_cache_mb * 2**20)


def get_llm(model_name: str) -> LLMBackend:
    """One loaded backend per model name per process, held while ``SIFTRAG_LLM_CACHE_MB`` allows."""
    return LLM_CACHE.get(model_name)

