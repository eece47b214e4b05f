"""Where models run, and how fast: drafting throughput and a short LoRA run, GPU or CPU.

On the bundled SmolLM2-135M, each part in a fresh child process (so its peak memory is its
own), on the device and dtype `training.modelload.placement` picks (CUDA when the host has
it, bf16 where the GPU computes it; the CPU as before otherwise):

- draft: `--prompts` Alpaca instructions (../shared/data/alpaca_zh_demo.json) answered by
  batched greedy generation (`training.generation.generate_batch`, `--batch-size` in flight,
  up to `--max-new-tokens` each), as a drafting job does; one warm-up batch first;
- train: a `--steps`-step LoRA SFT run of the training child (`training.entry`, run defaults,
  batch 4, precision auto) on the first `--train-rows` Alpaca rows, max length 256.

Each prints device, dtype, tokens/s (generated tokens per second; real training tokens per
loop second) and peak memory: torch.cuda.max_memory_allocated on a GPU, peak RSS on the CPU.

    .venv/bin/python benchmarks/gpu.py [--prompts 64] [--batch-size 16] [--max-new-tokens 64]
        [--steps 20] [--train-rows 80] [--only draft|train] [--json]

A quick CPU check: --prompts 8 --batch-size 8 --max-new-tokens 16 --steps 3 --train-rows 12.
Quote `uptime` with CPU figures: this machine is shared.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.modelload import BUNDLED_NAME, ModelSource, load_model, placement  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CACHE = REPO / "var" / "models"


def alpaca_rows(n: int) -> list[dict]:
    rows = json.loads((DATA / "alpaca_zh_demo.json").read_text(encoding="utf-8"))
    if n > len(rows):
        raise SystemExit(f"--prompts/--train-rows {n}: the demo file has {len(rows)} rows.")
    return rows[:n]


def peak_memory(device: str) -> dict:
    if device == "cuda":
        import torch

        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_rss_mb": round(peak_kib / 1024, 1)}


def draft(args: argparse.Namespace) -> dict:
    from curation.record_content import instruction_messages
    from training.generation import generate_batch
    from training.prompting import PromptSpec, render_prompt

    where = placement("auto", cpu_auto="float32")  # as a drafting job chooses
    source = ModelSource(BUNDLED_NAME, "bundled")
    model, tokenizer = load_model(source, cache_dir=CACHE, dtype=where.dtype, device=where.device)
    prompts = [
        render_prompt(
            tokenizer,
            PromptSpec(),
            instruction_messages(r["instruction"], r.get("input") or "", None),
        )
        for r in alpaca_rows(args.prompts)
    ]
    options = {"max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size}
    generate_batch(model, tokenizer, prompts[: args.batch_size], **options)  # warm-up
    if where.device == "cuda":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    out = generate_batch(model, tokenizer, prompts, **options)
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in out)
    return {
        "part": "draft",
        "device": where.device,
        "dtype": where.dtype,
        "prompts": len(prompts),
        "batch_size": args.batch_size,
        "generated_tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        **peak_memory(where.device),
    }


def train(args: argparse.Namespace) -> dict:
    from training import entry

    rows = alpaca_rows(args.train_rows + 8)
    with tempfile.TemporaryDirectory(prefix="tunedesk-gpu-") as tmp:
        root = Path(tmp)
        for name, part in (("train", rows[8:]), ("test", rows[:8])):
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
            (root / f"{name}.jsonl").write_text(text, encoding="utf-8")
        config = {
            "config": {"max_steps": args.steps, "batch_size": 4, "max_length": 256, "seed": 0},
            "model": {"name": BUNDLED_NAME, "kind": "bundled", "source": ""},
            "cache_dir": str(CACHE),
            "prompt": {},
            "data": {
                "train": [{"path": str(root / "train.jsonl")}],
                "test": [{"path": str(root / "test.jsonl")}],
            },
            "output_dir": str(root / "out"),
        }
        (root / "config.json").write_text(json.dumps(config), encoding="utf-8")
        result = entry.run(root / "config.json")
    return {
        "part": "train",
        "device": result["device"],
        "dtype": result["precision"],
        "steps": result["steps"],
        "train_loss": round(result["train_loss"], 4),
        "train_seconds": result["train_seconds"],
        "tokens_per_s": result["tokens_per_second"],
        **peak_memory(result["device"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--train-rows", type=int, default=80)
    parser.add_argument("--only", choices=["draft", "train"])
    parser.add_argument("--json", action="store_true", help="one JSON line per part")
    args = parser.parse_args()
    if args.only:  # a child: one part, its figures as the last line
        figures = draft(args) if args.only == "draft" else train(args)
        print(json.dumps(figures))
        return
    # Make sure the bundled model is converted before either part is timed.
    load_model(ModelSource(BUNDLED_NAME, "bundled"), cache_dir=CACHE)
    passed = [a for a in sys.argv[1:] if a != "--json"]
    for part in ("draft", "train"):
        done = subprocess.run(
            [sys.executable, __file__, *passed, "--only", part],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if done.returncode:
            raise SystemExit(f"{part} failed:\n{done.stderr[-3000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(figures))
            continue
        memory = (
            f"peak GPU memory {figures['peak_memory_mb']} MB"
            if "peak_memory_mb" in figures
            else f"peak RSS {figures['peak_rss_mb']} MB"
        )
        if part == "draft":
            what = (
                f"{figures['prompts']} prompts, batch {figures['batch_size']}, "
                f"{figures['generated_tokens']} tokens in {figures['seconds']} s"
            )
        else:
            what = (
                f"{figures['steps']} steps in {figures['train_seconds']} s, "
                f"loss {figures['train_loss']}"
            )
        print(
            f"{part:5}  device {figures['device']}  dtype {figures['dtype']}  "
            f"{figures['tokens_per_s']} tokens/s  {memory}  ({what})"
        )


if __name__ == "__main__":
    main()
