"""A GGUF model under llama.cpp (through llama-cpp-python's C API): feed token ids, read the next token's logits.

Tokenization and the choice of each token stay with the caller (``core/fast_generation.py``), so prompts are the
same token ids transformers reads and decoding rules are ours. The KV cache of the previous prompt is kept: a
prompt that shares a prefix with it (the same system turn and passages) is read from where they differ.

On a CPU with AMX, one token at a time runs on a second copy of the model in llama.cpp's AMX weight buffers
(``use_extra_bufts``): 6.8 ms a token instead of 12.9 for SmolLM2-135M on 2 cores, the same predictions up to
rounding. Their
batched kernels crash on these models (llama.cpp issue 20824; a 2-token batch is enough), so prompts are read on a
copy without them and the sequence's KV cache is handed over (``llama_state_seq_get/set_data``, ~10 ms for 460
tokens). Without AMX one copy does both.
"""
from __future__ import annotations

import ctypes
import importlib.util
import logging
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from core.deadline import check_deadline, current_deadline
from core.errors import ModelUnavailableError

BATCH_TOKENS = 512
DEADLINE_BATCH_TOKENS = 128  # prompt tokens per batch while a request's deadline applies (checked between batches)


def _bindings() -> Any:
    """llama-cpp-python's ctypes module, its load reports silenced."""
    try:
        import llama_cpp
    except ImportError as error:
        raise ModelUnavailableError(
            "The llama.cpp engine needs llama-cpp-python: `pip install 'siftrag[llamacpp]'`.") from error
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # its load reports go to stderr otherwise
    lib = llama_cpp
    lib.llama_backend_init()
    return lib


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def has_amx(lib: Any) -> bool:
    return b"AMX_INT8 = 1" in lib.llama_print_system_info()


def _free(lib: Any, model: Any, ctx: Any) -> None:
    if ctx:
        lib.llama_free(ctx)
    if model:
        lib.llama_model_free(model)


class _Sequence:
    """One copy of the model with a context holding one sequence; ``ids`` are what its KV cache holds."""

    def __init__(self, lib: Any, gguf_path: Path, context_length: int, threads: int, extra_buffers: bool) -> None:
        self.lib = lib
        model_params = lib.llama_model_default_params()
        model_params.use_extra_bufts = extra_buffers
        self.model = lib.llama_model_load_from_file(str(gguf_path).encode(), model_params)
        if not self.model:
            raise ModelUnavailableError(f"llama.cpp could not load {gguf_path.name}.")
        context_params = lib.llama_context_default_params()
        context_params.n_ctx = context_length
        context_params.n_batch = context_params.n_ubatch = BATCH_TOKENS
        context_params.n_threads = context_params.n_threads_batch = threads
        context_params.flash_attn_type = 0  # decoding after a 460-token prompt: 11.7 ms a token without, 15.4 with
        context_params.no_perf = True
        self.ctx = lib.llama_init_from_model(self.model, context_params)
        if not self.ctx:
            _free(lib, self.model, None)
            raise ModelUnavailableError(f"llama.cpp could not make a context of {context_length} tokens.")
        self.release = weakref.finalize(self, _free, lib, self.model, self.ctx)
        self.memory = lib.llama_get_memory(self.ctx)
        self.vocab_size = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))
        self.ids: list[int] = []
        head_size = lib.llama_model_n_embd(self.model) // lib.llama_model_n_head(self.model)
        kv_bytes = context_length * lib.llama_model_n_layer(self.model) * 2 * lib.llama_model_n_head_kv(self.model) \
            * head_size * 2  # keys and values, f16
        self.memory_bytes = int(lib.llama_model_size(self.model)) + kv_bytes

    def keep(self, count: int) -> None:
        """Forget all but the first ``count`` tokens."""
        self.lib.llama_memory_seq_rm(self.memory, -1, count, -1)
        self.ids = self.ids[:count]

    def feed(self, ids: list[int]) -> np.ndarray:
        """Logits of the token after ``ids`` appended (at most ``BATCH_TOKENS`` at once)."""
        tokens = (self.lib.llama_token * len(ids))(*ids)
        status = self.lib.llama_decode(self.ctx, self.lib.llama_batch_get_one(tokens, len(ids)))
        if status != 0:
            self.keep(0)
            raise RuntimeError(f"llama.cpp failed to decode {len(ids)} tokens (status {status}).")
        self.ids += ids
        pointer = self.lib.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.vocab_size,)).copy()

    def copy_to(self, other: _Sequence) -> None:
        """``other`` holds this sequence's KV cache (and ids) afterwards."""
        size = self.lib.llama_state_seq_get_size(self.ctx, 0)
        state = (ctypes.c_uint8 * size)()
        written = self.lib.llama_state_seq_get_data(self.ctx, state, size, 0)
        other.keep(0)
        if not written or self.lib.llama_state_seq_set_data(other.ctx, state, written, 0) != written:
            raise RuntimeError("llama.cpp could not hand the prompt's KV cache over.")
        other.ids = list(self.ids)


class LlamaCppDecoder:
    """A model for generation: ``start`` reads a prompt, ``advance`` appends one token. Not thread-safe: the owner
    serializes calls."""

    def __init__(self, gguf_path: Path, context_length: int, threads: int, amx_decoding: bool = True) -> None:
        lib = _bindings()
        self.gguf_path = gguf_path
        self.context_length = context_length
        self._reader = _Sequence(lib, gguf_path, context_length, threads, extra_buffers=False)
        self._writer = (_Sequence(lib, gguf_path, context_length, threads, extra_buffers=True)
                        if amx_decoding and has_amx(lib) else self._reader)

    @property
    def memory_bytes(self) -> int:
        """The weights (the AMX copy too) and the KV caches (the GGUF file itself is memory-mapped)."""
        held = self._reader.memory_bytes
        return held + (self._writer.memory_bytes if self._writer is not self._reader else 0)

    def start(self, prompt_ids: list[int]) -> tuple[np.ndarray, int]:
        """(logits of the token after ``prompt_ids``, prompt tokens read). The KV cache of the longest prefix shared
        with the previous prompt is kept. The last prompt token is always read alone, by the kernels that then
        decode, and the others in batches of two or more, so a prompt gives the same logits (and answer) whatever
        the cache held: llama.cpp's batched and single-token kernels round differently. Under a request's deadline
        the prompt is read ``DEADLINE_BATCH_TOKENS`` at a time, the deadline checked between batches."""
        shared, previous = 0, self._reader.ids
        limit = min(len(previous), len(prompt_ids) - 1)
        while shared < limit and previous[shared] == prompt_ids[shared]:
            shared += 1
        if len(prompt_ids) - 1 - shared == 1 and shared:
            shared -= 1  # one token to batch: read two
        self._reader.keep(shared)
        batched = prompt_ids[shared:-1]
        size = DEADLINE_BATCH_TOKENS if current_deadline() is not None else BATCH_TOKENS
        for begin in range(0, len(batched), size):
            check_deadline()  # a request's deadline stops a long prompt between batches
            chunk = batched[begin:begin + size]
            if len(chunk) == 1 and begin:  # a lone remainder joins the previous batch's reading order: re-read its last
                self._reader.keep(len(self._reader.ids) - 1)
                chunk = batched[begin - 1:begin + 1]
            self._reader.feed(chunk)
        if self._writer is not self._reader:
            self._reader.copy_to(self._writer)
        return self._writer.feed(prompt_ids[-1:]), len(prompt_ids) - shared

    def advance(self, token_id: int) -> np.ndarray:
        """Logits of the token after ``token_id`` appended to the sequence."""
        return self._writer.feed([token_id])

    def close(self) -> None:
        """Free the models and contexts now (else when the decoder is collected, or at exit)."""
        self._writer.release()
        self._reader.release()
