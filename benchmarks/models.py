"""``model.rm`` batched scoring vs the naive loops training code uses, side by side in one run.

    python -m benchmarks.models [--samples 256] [--hidden 128] [--layers 2] [--device auto]
    python -m benchmarks.models --preset 1b --dtype bfloat16 --device cuda   # on a GPU

A random-weight Llama-shaped sequence classifier (saved to a temporary directory with a
tokenizer trained on the spot) scores a length-skewed workload: prompt + completion
from 20 to 2,000 tokens, log-uniform. Printed side by side:

1. rewardlab ``model.rm`` in process (length buckets under ``batch_tokens``);
2. rewardlab ``model.rm`` in its model worker (the default placement), with the
   worker's peak resident memory;
3. the per-sample loop (tokenise one, forward one), as TRL / OpenRLHF reward
   functions that call an RM per completion do;
4. fixed-size batches in input order padded to the longest (what most training code does).

Each rewardlab figure is the best of ``--repeats`` passes with the cache off; the
ratios and the largest score difference against the per-sample loop are printed.
Then where the time goes: the loop's render + tokenise and forward times, and for
each way its forward passes, padded tokens and arithmetic (GFLOP: the decoder's
weights, 2 FLOPs per weight per token, plus causal attention, 2 x length^2 x hidden
per layer for each row; fixed batches carry an attention mask, so their attention is
counted on the full padded square). The per-sample loop pads nothing, so an exact
batched pass can only save its per-call overhead, never its arithmetic.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.advantages import best_of
from rewardlab.core import Sample
from rewardlab.engine import Engine
from rewardlab.models.batching import budget, plan_buckets
from rewardlab.rewards.model_rm import RewardModel

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4},
    "1b": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32},
}


def build_model(root: Path, config: dict[str, Any]) -> str:
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from tests.models_tiny import tokenizer

    torch.manual_seed(0)
    tok = tokenizer()
    heads = config["num_attention_heads"]
    cfg = LlamaConfig(vocab_size=len(tok), max_position_embeddings=4096,
                      num_key_value_heads=max(1, heads // 4), pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **config)
    cfg.num_labels = 1
    LlamaForSequenceClassification(cfg).save_pretrained(root)
    tok.save_pretrained(root)
    return str(root)


def workload(n: int, seed: int = 0) -> list[Sample]:
    """Prompt + completion of 20 to 2,000 tokens, log-uniform (one byte-level token per character)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        total = int(math.exp(rng.uniform(math.log(20), math.log(2000))))
        prompt_len = max(5, total // 4)
        text = "".join(rng.choice("abcdefghij +-=0123456789") for _ in range(total))
        out.append(Sample(str(i), text[:prompt_len], text[prompt_len:]))
    return out


def texts(tok: Any, samples: list[Sample]) -> list[str]:
    return [tok.apply_chat_template([{"role": "user", "content": s.prompt},
                                     {"role": "assistant", "content": s.completion}], tokenize=False)
            for s in samples]


def per_sample_loop(model: Any, tok: Any, samples: list[Sample], device: Any) -> list[float]:
    import torch

    out = []
    with torch.no_grad():
        for text in texts(tok, samples):
            batch = tok(text, add_special_tokens=False, return_tensors="pt").to(device)
            out.append(float(model(**batch).logits[0, 0]))
    return out


def fixed_batches(model: Any, tok: Any, samples: list[Sample], device: Any, size: int) -> list[float]:
    import torch

    out: list[float] = []
    all_texts = texts(tok, samples)
    tok.padding_side = "right"
    with torch.no_grad():
        for start in range(0, len(all_texts), size):
            batch = tok(all_texts[start:start + size], add_special_tokens=False, padding=True,
                        return_tensors="pt").to(device)
            out.extend(float(v) for v in model(**batch).logits[:, 0])
    return out


def peak_rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--batch-tokens", type=lambda v: v if v == "auto" else int(v), default="auto",
                    help="auto: 2048 on CPU, 16384 on CUDA (rewardlab's default)")
    ap.add_argument("--fixed-batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    return ap.parse_args()


def measure(args: argparse.Namespace, path: str, engine: Engine, samples: list[Sample]) -> dict[str, Any]:
    """Seconds and scores of the four ways, and the facts printed with them."""
    import transformers

    from rewardlab.models.loading import load_model

    common = {"model": path, "device": args.device, "dtype": args.dtype, "batch_tokens": args.batch_tokens}
    local = RewardModel(placement="in_process", **common)
    loaded = load_model(local.params, "sequence_classification")
    tok = transformers.AutoTokenizer.from_pretrained(path)
    worker = RewardModel(**common)
    engine.run(worker, samples[:2])  # start the worker and load the model
    engine.run(local, samples[:2])  # the first forward pass in this process (one-time set-up)
    runs = {
        "rewardlab model.rm (in process)": best_of(
            lambda: [s.value for s in engine.run(local, samples)], args.repeats),
        "rewardlab model.rm (model worker)": best_of(
            lambda: [s.value for s in engine.run(worker, samples)], args.repeats),
        "per-sample loop": best_of(lambda: per_sample_loop(loaded.model, tok, samples, loaded.device), args.repeats),
        f"fixed batches of {args.fixed_batch}, input order": best_of(
            lambda: fixed_batches(loaded.model, tok, samples, loaded.device, args.fixed_batch), args.repeats),
    }
    stages = {  # the work before any forward pass, timed alone
        "loop: render + tokenise one at a time": best_of(
            lambda: [tok(t, add_special_tokens=False)["input_ids"] for t in texts(tok, samples)], args.repeats),
        "rewardlab: encode (render, tokenise, truncate)": best_of(
            lambda: [local.encode(loaded, s) for s in samples], args.repeats),
    }
    lengths = [len(ids) for ids in stages["loop: render + tokenise one at a time"][1]]
    return {"runs": runs, "stages": stages, "loaded": loaded, "tokens": sum(lengths),
            "arithmetic": arithmetic(args, loaded.model, lengths, loaded.device.type),
            "rss": peak_rss_mb(engine.model_workers.pid(worker.worker_key))}


def flops(model: Any, rows: int, width: int, masked: bool) -> float:
    """FLOPs of one forward pass over ``rows`` inputs padded to ``width`` (see the module docstring)."""
    cfg = model.config
    linear = 2 * sum(p.numel() for p in model.model.layers.parameters()) * rows * width
    square = rows * width * width * (1.0 if masked else 0.5)
    return linear + 4 * cfg.num_hidden_layers * cfg.hidden_size * square


def arithmetic(args: argparse.Namespace, model: Any, lengths: list[int],
               device_type: str) -> dict[str, tuple[int, int, float]]:
    """(forward passes, padded tokens, GFLOP) of each way."""
    tokens, overhead = budget(args.batch_tokens, "auto", device_type)
    plans = {
        "per-sample loop": ([[i] for i in range(len(lengths))], False),
        "rewardlab buckets": (plan_buckets(lengths, tokens, 256, overhead), False),
        f"fixed batches of {args.fixed_batch}": (
            [list(range(i, min(i + args.fixed_batch, len(lengths)))) for i in range(0, len(lengths), args.fixed_batch)],
            True),
    }
    out = {}
    for name, (plan, masked) in plans.items():
        widths = [max(lengths[i] for i in b) for b in plan]
        padded = sum(len(b) * w for b, w in zip(plan, widths, strict=True))
        gflop = sum(flops(model, len(b), w, masked and len(b) > 1) for b, w in zip(plan, widths, strict=True)) / 1e9
        out[name] = (len(plan), padded, gflop)
    return out


def report(args: argparse.Namespace, m: dict[str, Any]) -> None:
    import torch

    loaded, runs, tokens = m["loaded"], m["runs"], m["tokens"]
    print(f"device {loaded.device}, dtype {next(loaded.model.parameters()).dtype}, preset {args.preset}, "
          f"{args.samples} samples, {tokens} tokens (20..2000 per sample), torch threads {torch.get_num_threads()}")
    loop = runs["per-sample loop"][1]
    for name, (secs, values) in runs.items():
        diff = max(abs(a - b) for a, b in zip(values, loop, strict=True))
        print(f"  {name:<40} {secs:8.3f} s  {tokens / secs:10.0f} tokens/s  max |diff| vs loop {diff:.1e}")
    (ours, _), (work, _), (naive, _), (fixed, _) = runs.values()
    print(f"  speed-up vs per-sample loop: {naive / ours:.2f}x (in process), {naive / work:.2f}x (worker)")
    print(f"  speed-up vs fixed batches:   {fixed / ours:.2f}x (in process), {fixed / work:.2f}x (worker)")
    print(f"  model worker peak RSS: {m['rss']:.0f} MiB" if m["rss"] is not None else "  model worker peak RSS: n/a")
    if loaded.device.type == "cuda":
        print(f"  peak GPU memory (this process): {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print("where the time goes:")
    for name, (secs, _) in m["stages"].items():
        print(f"  {name:<48} {secs:8.3f} s")
    for name, (passes, padded, gflop) in m["arithmetic"].items():
        print(f"  {name:<24} {passes:5d} forward passes {padded:9d} padded tokens ({padded / tokens - 1:6.1%} "
              f"padding) {gflop:8.1f} GFLOP")


def main() -> None:
    args = parse_args()
    samples = workload(args.samples)
    with tempfile.TemporaryDirectory() as tmp, Engine(cache_size=0) as engine:
        path = build_model(Path(tmp), PRESETS[args.preset])
        report(args, measure(args, path, engine, samples))


if __name__ == "__main__":
    main()
