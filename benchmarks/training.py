"""One epoch of LoRA SFT: Tunedesk's training entry point vs a plain padded peft loop.

Same rows (real data from ../shared/data), the bundled SmolLM2-135M, LoRA r=16 alpha=32 on
all linear layers, max length 256, batch 4, lr 2e-4, same precision, one run. The plain loop
pads each random batch to its longest row and takes the model's own loss; Tunedesk groups
rows by length and computes the LM head only where labels are. Both render rows with
training.entry.encode_sft, so they see the same tokens.

    .venv/bin/python benchmarks/training.py [--rows 64] [--data alpaca|glaive]
        [--precision fp32,bf16]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training import entry  # noqa: E402
from training.modelload import BUNDLED_NAME, ModelSource, load_model  # noqa: E402
from training.prompting import PromptSpec  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CACHE = REPO / "var" / "models"
SETTINGS = {"lora_rank": 16, "lora_alpha": 32, "max_length": 256, "batch_size": 4}
SETTINGS |= {"learning_rate": 2e-4, "epochs": 1, "seed": 0, "lora_dropout": 0.05}


def rows_of(name: str, count: int) -> list[dict]:
    if name == "alpaca":
        items = json.loads((DATA / "alpaca_zh_demo.json").read_text(encoding="utf-8"))
        return [
            {"instruction": r["instruction"], "input": r["input"], "output": r["output"]}
            for r in items[:count]
        ]
    items = json.loads((DATA / "glaive_toolcall_zh_demo.json").read_text(encoding="utf-8"))
    roles = {"human": "user", "gpt": "assistant", "system": "system", "observation": "tool"}
    out = []
    for item in items[:count]:
        messages = []
        for turn in item["conversations"]:
            if turn["from"] == "function_call":
                call = json.loads(turn["value"])
                function = {"name": call["name"], "arguments": call["arguments"]}
                messages.append(
                    {"role": "assistant", "content": "", "tool_calls": [{"function": function}]}
                )
            else:
                messages.append({"role": roles[turn["from"]], "content": turn["value"]})
        out.append({"messages": messages, "tools": json.loads(item["tools"])})
    return out


def tunedesk(rows: list[dict], precision: str, tmp: Path) -> dict:
    work = tmp / f"tunedesk-{precision}"
    work.mkdir()
    data = work / "train.jsonl"
    data.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    config = {
        "config": SETTINGS | {"precision": precision},
        "model": {"name": BUNDLED_NAME, "kind": "bundled", "source": ""},
        "cache_dir": str(CACHE),
        "prompt": {},
        "data": {"train": [{"path": str(data)}], "test": []},
        "output_dir": str(work / "out"),
    }
    (work / "config.json").write_text(json.dumps(config))
    subprocess.run(
        [sys.executable, "-m", "training.entry", str(work / "config.json")],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    result = json.loads((work / "result.json").read_text())
    return {
        "seconds": result["train_seconds"],
        "tokens_per_s": result["tokens_per_second"],
        "real_share": result["real_token_share"],
        "loss": result["train_loss"],
    }


def plain_loop(rows: list[dict], precision: str) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model

    dtype = "bfloat16" if precision == "bf16" else "float32"
    model, tokenizer = load_model(
        ModelSource(BUNDLED_NAME, "bundled"), cache_dir=CACHE, dtype=dtype
    )
    encoded = entry.encode_sft(tokenizer, PromptSpec(), rows, max_length=SETTINGS["max_length"])
    torch.manual_seed(0)
    model.config.use_cache = False
    lora = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    model = get_peft_model(model, lora)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    batches = [order[i : i + 4] for i in range(0, len(order), 4)]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / len(batches))
    real = padded = 0
    losses = []
    started = time.perf_counter()
    for batch in batches:
        data = entry.collate(encoded, batch, tokenizer.pad_token_id)
        loss = model(**data).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        real += int(data["attention_mask"].sum())
        padded += data["attention_mask"].numel()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "tokens_per_s": round(real / seconds, 1),
        "real_share": round(real / padded, 4),
        "loss": sum(losses) / len(losses),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--data", choices=["alpaca", "glaive"], default="alpaca")
    parser.add_argument("--precision", default="fp32,bf16")
    args = parser.parse_args()
    rows = rows_of(args.data, args.rows)
    print(f"{len(rows)} {args.data} rows, SmolLM2-135M, LoRA r16 all-linear, len 256, batch 4")
    with tempfile.TemporaryDirectory() as tmp:
        for precision in args.precision.split(","):
            plain = plain_loop(rows, precision)
            ours = tunedesk(rows, precision, Path(tmp))
            for name, r in (("plain peft loop", plain), ("tunedesk entry", ours)):
                print(
                    f"{precision:5} {name:16} {r['seconds']:8.1f} s"
                    f"  {r['tokens_per_s']:7.1f} real tok/s"
                    f"  real-token share {r['real_share']:.3f}  mean loss {r['loss']:.4f}"
                )
            print(
                f"{precision:5} time ratio tunedesk/plain = "
                f"{ours['seconds'] / plain['seconds']:.2f}"
            )


if __name__ == "__main__":
    main()
