"""Speed must not change what is learned: the training child's fast path (packed batches, a
shared prefix computed once, the LM head on trained positions only) against a plain HF/peft
loop on padded batches with the model's own loss, on a tiny model and a fixed seed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from training import entry
from training.config import RunConfig
from training.modelload import load_model
from training.prompting import PromptSpec

SYSTEM = "You are the shop's assistant. Call a tool when the user asks for one."


def _rows(glaive_records, n: int) -> list[dict]:
    # The rows' own tools left out: the project's (in the prompt spec) are rendered instead.
    return [{"messages": m} for m, _ in glaive_records[:n]]


def _spec(glaive_records) -> PromptSpec:
    # A system prompt and tool schemas shared by every row: the long-prompt workload, where
    # the packed path computes the shared prefix once per batch.
    return PromptSpec.from_dict({"system_prompt": SYSTEM, "tools": glaive_records[0][1]})


def _peft(model_dir: Path, dropout: float = 0.0):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_model(str(model_dir), cache_dir=model_dir.parent / "cache")
    model.config.use_cache = False
    torch.manual_seed(0)
    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(model, lora)
    peft_model.train()
    return peft_model, tokenizer


def test_a_packed_batch_has_the_loss_and_gradients_of_the_padded_batch(
    tiny_model_dir, glaive_records
):
    peft_model, tokenizer = _peft(tiny_model_dir)
    encoded = entry.encode_sft(
        tokenizer, _spec(glaive_records), _rows(glaive_records, 4), max_length=4096
    )
    batch = [0, 1, 2, 3]
    made = entry.pack(encoded, batch)
    assert made.prefix > 50  # the system prompt and the tools, shared by all four rows
    assert made.computed == made.real - 3 * made.prefix
    entry._register_packed_training()
    loss_model = entry._loss_module(peft_model)

    def loss_and_grads(**inputs):
        peft_model.zero_grad()
        loss, count = loss_model(**inputs)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.requires_grad}
        return float(loss.detach()), int(count), grads

    packed = loss_and_grads(pack=made)
    padded = loss_and_grads(**entry.collate(encoded, batch, tokenizer.pad_token_id))
    assert packed[1] == padded[1] > 0
    assert packed[0] == pytest.approx(padded[0], rel=1e-5)
    for name, grad in padded[2].items():  # float32 sums in another order: 1e-5 apart
        assert (packed[2][name] - grad).norm() <= 1e-4 * grad.norm(), name


def test_the_fast_loop_learns_like_a_plain_peft_loop(tmp_path, tiny_model_dir, glaive_records):
    """Same rows, seed, batches, schedule and optimizer: the loss curves agree step by step."""
    rows = _rows(glaive_records, 12)
    settings = {"lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.0, "batch_size": 3}
    settings |= {"learning_rate": 5e-3, "epochs": 2, "max_length": 4096, "precision": "fp32"}
    settings |= {"warmup_ratio": 0.0, "eval_max_rows": 0}
    cfg = RunConfig.from_dict(settings)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    work = tmp_path / "work"
    work.mkdir()
    spec = {"system_prompt": SYSTEM, "tools": glaive_records[0][1]}
    config = {
        "config": settings,
        "model": {"name": "tiny", "kind": "local", "source": str(tiny_model_dir)},
        "cache_dir": str(tmp_path / "cache"),
        "prompt": spec,
        "data": {"train": [{"path": str(data)}], "test": []},
        "output_dir": str(tmp_path / "out"),
    }
    (work / "config.json").write_text(json.dumps(config))
    result = entry.run(work / "config.json")
    assert result["packing"] is True
    assert result["computed_tokens"] < result["data"]["train"]["tokens"] * 2  # prefix shared
    fast = [
        json.loads(line)["loss"]
        for line in (work / "progress.jsonl").read_text().splitlines()
        if '"loss"' in line
    ]

    # The plain loop: padded batches, the model's own mean loss, peft, torch's AdamW.
    peft_model, tokenizer = _peft(tiny_model_dir)
    encoded = entry.encode_sft(
        tokenizer, PromptSpec.from_dict(spec), rows, max_length=cfg.max_length
    )
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    plain = []
    for epoch in range(2):
        for batch in entry.length_grouped_batches(encoded.lengths, 3, seed=epoch):
            data = entry.collate(encoded, batch, tokenizer.pad_token_id)
            loss = peft_model(**data).loss
            loss.backward()
            step = len(plain)
            for group in optimizer.param_groups:
                group["lr"] = cfg.learning_rate * (8 - step) / 8  # linear decay, no warm-up
            optimizer.step()
            optimizer.zero_grad()
            plain.append(float(loss))
    assert len(fast) == len(plain) == 8
    assert plain[-1] < plain[0] * 0.9  # it learns: the comparison is not of two flat lines
    for step, (a, b) in enumerate(zip(fast, plain, strict=True)):
        assert a == pytest.approx(b, rel=2e-3), (step, fast, plain)


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="no database in it: the SQLite leg of CI runs it (compiling takes ~45 s)",
)
def test_compiled_layers_learn_what_eager_layers_learn(tmp_path, tiny_model_dir, glaive_records):
    """compile=on (inductor, one graph for every decoder layer, the packed attention eager)
    gives the eager loss curve and evaluation; the run says which it did."""
    rows = _rows(glaive_records, 8)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    curves, results = {}, {}
    for mode in ("off", "on"):
        settings = {"lora_rank": 8, "lora_alpha": 16, "batch_size": 2, "learning_rate": 5e-3}
        settings |= {"epochs": 1, "max_length": 4096, "precision": "fp32", "compile": mode}
        work = tmp_path / mode
        work.mkdir()
        config = {
            "config": settings,
            "model": {"name": "tiny", "kind": "local", "source": str(tiny_model_dir)},
            "cache_dir": str(tmp_path / "cache"),
            "prompt": {"system_prompt": SYSTEM, "tools": glaive_records[0][1]},
            "data": {"train": [{"path": str(data)}], "test": [{"path": str(data)}]},
            "output_dir": str(work / "out"),
        }
        (work / "config.json").write_text(json.dumps(config))
        results[mode] = entry.run(work / "config.json")
        curves[mode] = [
            json.loads(line)["loss"]
            for line in (work / "progress.jsonl").read_text().splitlines()
            if '"loss"' in line
        ]
    assert results["on"]["compiled"] is True and results["off"]["compiled"] is False
    assert len(curves["on"]) == len(curves["off"]) == 4
    assert curves["on"] == pytest.approx(curves["off"], rel=1e-4)
    assert results["on"]["eval_loss"] == pytest.approx(results["off"]["eval_loss"], rel=1e-4)
