"""The GPU check: one table of what the GPU paths cost, on models of the shipped architectures with random weights.

    bash benchmarks/gpu_check.sh            # on a GPU machine: under 8 minutes
    python benchmarks/gpu_check.py --device cpu --tiny   # a smoke run of the same code on the CPU (small sizes)

Our weights do not travel to a lent GPU machine, so every model is built from its architecture's config with
random weights: speed does not depend on the weights, and generation runs a fixed number of decoding steps
(``min_new_tokens`` = ``max_new_tokens``). Inputs are random token ids of the lengths the methods see. Rows: CUDA
and bf16 model load; FAISS on the GPU (or why faiss-cpu stays); dense encoding throughput (MiniLM shape); FIRST
(one forward, logits of the first identifier) vs generation listwise (the permutation decoded) on the same
window; ICR on 100 candidates in one prompt (prefix once, query and calibration spans with eager attention, our
``LLMBackend.query_attention``); one LoRA training step per trainer shape; a DyPRAG delta injected in bf16 (our
``core/lora_delta.py`` hooks).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The shipped architectures (their config.json values): the LLMs and the MiniLM / TILDE encoders.
SMOLLM2 = dict(model_type="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
               num_attention_heads=9, num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
               rope_theta=100000.0, tie_word_embeddings=True)
QWEN25_05B = dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                  rope_theta=1000000.0, tie_word_embeddings=True)
MINILM = dict(model_type="bert", hidden_size=384, intermediate_size=1536, num_hidden_layers=6,
              num_attention_heads=12, vocab_size=30522)
TILDE_ENCODER = dict(model_type="bert", hidden_size=128, intermediate_size=512, num_hidden_layers=2,
                     num_attention_heads=2, vocab_size=30522)
ROWS: list[tuple[str, str, str, str]] = []


def row(check: str, model: str, measured: str, note: str = "") -> None:
    ROWS.append((check, model, measured, note))
    print(f"  {check}: {measured} {note}", flush=True)


def timed(fn: Callable[[], object], device: str, repeats: int = 3) -> float:
    """Median seconds of ``fn`` after one warm-up call (synchronized on CUDA)."""
    fn()
    samples = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def build(config: dict, device: str, dtype: torch.dtype, causal: bool = True, attn: str = "sdpa"):
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    values = dict(config)
    built = AutoConfig.for_model(values.pop("model_type"), **values)
    factory = AutoModelForCausalLM if causal else AutoModel
    return factory.from_config(built, dtype=dtype, attn_implementation=attn).to(device).eval()


def ids(length: int, vocab: int, device: str, batch: int = 1) -> torch.Tensor:
    return torch.randint(100, vocab - 100, (batch, length), device=device)


def check_load(name: str, config: dict, device: str, dtype: torch.dtype):
    began = time.perf_counter()
    model = build(config, device, dtype)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    row("model load", name, f"{time.perf_counter() - began:.1f} s", f"{params:.0f}M params, {dtype}, {device}")
    return model


def check_faiss(device: str, tiny: bool) -> None:
    try:
        import faiss
    except ImportError:
        row("FAISS", "-", "not installed", "faiss-cpu stays the default: faiss-gpu-cu12 needs the CUDA 12 runtime "
            "and is a ~100 MB wheel (over the 64 MiB that travels); install it there to measure")
        return
    import numpy as np

    vectors = np.random.rand(2_000 if tiny else 200_000, 384).astype("float32")
    queries = np.random.rand(100 if tiny else 1_000, 384).astype("float32")
    cpu = faiss.IndexFlatIP(384)
    cpu.add(vectors)
    seconds_cpu = timed(lambda: cpu.search(queries, 10), "cpu")
    if device.startswith("cuda") and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        gpu = faiss.index_cpu_to_all_gpus(cpu)
        seconds_gpu = timed(lambda: gpu.search(queries, 10), device)
        row("FAISS flat IP", f"{len(vectors)}x384", f"{seconds_gpu * 1000:.1f} ms / {len(queries)} queries",
            f"GPU {seconds_cpu / seconds_gpu:.1f}x faster than CPU ({seconds_cpu * 1000:.1f} ms)")
    else:
        row("FAISS flat IP", f"{len(vectors)}x384", f"{seconds_cpu * 1000:.1f} ms / {len(queries)} queries",
            "CPU build (no GPU FAISS here)")


def check_encoder(device: str, dtype: torch.dtype, tiny: bool) -> None:
    model = build(MINILM, device, dtype, causal=False)
    count, length, batch = (64, 32, 32) if tiny else (8192, 64, 512)
    tokens = ids(length, MINILM["vocab_size"], device, batch)

    @torch.no_grad()
    def encode() -> None:
        for _ in range(count // batch):
            model(input_ids=tokens).last_hidden_state.mean(dim=1)

    seconds = timed(encode, device, repeats=2)
    row("dense encode", "MiniLM-L6 shape", f"{count / seconds:,.0f} passages/s", f"{length} tokens, batch {batch}")


def check_first_vs_listwise(name: str, model, device: str, tiny: bool) -> None:
    window, steps = (300, 8) if tiny else (2700, 80)  # 20 passages x 100 words; "[a] > [b] > ..." for 20
    prompt = ids(window, model.config.vocab_size, device)

    @torch.no_grad()
    def first() -> None:
        model(prompt, use_cache=False, logits_to_keep=1)

    @torch.no_grad()
    def listwise() -> None:
        model.generate(prompt, max_new_tokens=steps, min_new_tokens=steps, do_sample=False,
                       pad_token_id=0, eos_token_id=None)

    seconds_first, seconds_listwise = timed(first, device), timed(listwise, device, repeats=2)
    row("FIRST vs listwise", name, f"{seconds_first * 1000:.0f} ms vs {seconds_listwise * 1000:.0f} ms",
        f"FIRST {seconds_listwise / seconds_first:.1f}x faster ({window}-token window, {steps} decoded tokens)")


def check_icr(name: str, model, device: str, tiny: bool) -> None:
    from core.llm_backend import LLMBackend

    backend = LLMBackend.__new__(LLMBackend)  # the real query_attention, on the random-weight model
    backend.__dict__.update(model=model, device=torch.device(device), lock=threading.RLock(), batcher=None,
                            model_name=name, context_length=model.config.max_position_embeddings)
    candidates, per_passage = (10, 20) if tiny else (100, 60)
    prefix = ids(candidates * per_passage + 40, model.config.vocab_size, "cpu")[0].tolist()
    query, calibration = ids(30, model.config.vocab_size, "cpu")[0].tolist(), ids(8, 1000, "cpu")[0].tolist()
    seconds = timed(lambda: backend.query_attention(prefix, [query, calibration]), device, repeats=2)
    row("ICR one prompt", name, f"{seconds * 1000:.0f} ms",
        f"{candidates} candidates, {len(prefix)}-token prefix, 3 forward passes")


def check_training_steps(name: str, config: dict, device: str, dtype: torch.dtype, tiny: bool) -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(build(config, device, dtype, attn="sdpa").train(), LoraConfig(
        r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"], task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for trainer, length in (("reranker (FIRST window)", 300 if tiny else 2700), ("reader (RAFT)", 128 if tiny
                                                                                   else 1024)):
        batch = ids(length, config["vocab_size"], device)

        def step() -> None:
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

        row("LoRA train step", name, f"{timed(step, device, repeats=2) * 1000:.0f} ms", f"{trainer}, {length} tokens")
    encoder = build(TILDE_ENCODER, device, torch.float32, causal=False).train()
    head = torch.nn.Linear(TILDE_ENCODER["hidden_size"], 1).to(device)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=3e-5)
    passages = ids(64 if tiny else 256, TILDE_ENCODER["vocab_size"], device, 4 if tiny else 16)

    def tilde_step() -> None:
        impacts = torch.relu(head(encoder(input_ids=passages).last_hidden_state)).squeeze(-1)
        impacts.sum(dim=1).mean().backward()
        optimizer.step()
        optimizer.zero_grad()

    row("TILDE train step", "2-layer BERT", f"{timed(tilde_step, device, repeats=2) * 1000:.0f} ms",
        f"batch {passages.shape[0]} x {passages.shape[1]} tokens")


def check_dyprag(name: str, model, device: str, dtype: torch.dtype, tiny: bool) -> None:
    from core.lora_delta import LoraDelta, active, install_delta_hooks, projections

    install_delta_hooks(model)
    factors = {key: (torch.randn(2, layer.in_features, device=device, dtype=dtype) * 0.01,
                     torch.randn(layer.out_features, 2, device=device, dtype=dtype) * 0.01)
               for key, layer in projections(model).items()}
    delta = LoraDelta(factors, 1.0)
    prompt, steps = ids(64 if tiny else 256, model.config.vocab_size, device), 8 if tiny else 64

    @torch.no_grad()
    def decode() -> None:
        model.generate(prompt, max_new_tokens=steps, min_new_tokens=steps, do_sample=False, pad_token_id=0,
                       eos_token_id=None)

    def with_delta() -> None:
        with active(delta):
            decode()

    base, injected = timed(decode, device, repeats=2), timed(with_delta, device, repeats=2)
    row("DyPRAG delta", name, f"{injected * 1000:.0f} ms vs {base * 1000:.0f} ms",
        f"rank-2 MLP delta ({dtype}) costs {injected / base:.2f}x, {steps} decoded tokens")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="small sizes (a CPU smoke run of the same code)")
    args = parser.parse_args()
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("No CUDA device: run with --device cpu --tiny for a smoke run.")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    print(f"GPU check on {name}, torch {torch.__version__}: random weights, shipped architectures", flush=True)
    began = time.perf_counter()
    check_faiss(device, args.tiny)
    check_encoder(device, dtype, args.tiny)
    for label, config in (("SmolLM2-135M", SMOLLM2), ("Qwen2.5-0.5B", QWEN25_05B)):
        model = check_load(label, config, device, dtype)
        check_first_vs_listwise(label, model, device, args.tiny)
        check_icr(label, model, device, args.tiny)
        check_dyprag(label, model, device, dtype, args.tiny)
        del model
    check_training_steps("SmolLM2-135M", SMOLLM2, device, dtype, args.tiny)
    print("\n| check | model | measured | note |\n|---|---|---|---|")
    for check, model, measured, note in ROWS:
        print(f"| {check} | {model} | {measured} | {note} |")
    print(f"\n{time.perf_counter() - began:.0f} s in all")


if __name__ == "__main__":
    main()
