"""The training child without Django: row shapes, length grouping, loss mask, accelerate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training import entry
from training.preview import spans
from training.prompting import PromptSpec

REPO = Path(__file__).resolve().parents[2]


def test_length_grouping_wastes_less_padding_than_random_batches():
    lengths = [20, 200, 35, 180, 50, 220, 40, 190] * 8

    def real_share(batches):
        return sum(lengths) / sum(len(b) * max(lengths[i] for i in b) for b in batches)

    grouped = entry.length_grouped_batches(lengths, 4, seed=0)
    plain = entry.length_grouped_batches(lengths, 4, seed=0, grouping="none")
    assert sorted(i for b in grouped for i in b) == list(range(len(lengths)))
    assert real_share(grouped) > 0.9 > real_share(plain)


@pytest.mark.parametrize(
    "row",
    [
        {"messages": [{"role": "user", "content": "q"}], "chosen": "a", "rejected": "b"},
        {
            "prompt": [{"role": "user", "content": "q"}],
            "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}],
        },
        {"prompt": "q", "chosen": "a", "rejected": "b"},
        {
            "input": {"messages": [{"role": "user", "content": "q"}]},
            "preferred_output": [{"role": "assistant", "content": "a"}],
            "non_preferred_output": [{"role": "assistant", "content": "b"}],
        },
        {"instruction": "q", "input": "", "chosen": "a", "rejected": "b"},
    ],
)
def test_every_preference_shape_reads_the_same(row):
    messages, _, chosen, rejected = entry.preference_example(row)
    assert messages[-1]["content"] == "q"
    assert (chosen[-1]["content"], rejected[-1]["content"]) == ("a", "b")


def test_an_alpaca_row_trains_on_its_output(tiny):
    _, tokenizer = tiny
    encoded = entry.encode_sft(
        tokenizer,
        PromptSpec(),
        [{"instruction": "翻译", "input": "hello", "output": "你好"}],
        max_length=256,
    )
    trained = [
        t for t, label in zip(encoded.input_ids[0], encoded.labels[0], strict=True) if label != -100
    ]
    assert "你好" in tokenizer.decode(trained)


def test_the_loss_mask_of_a_tool_call_conversation_trains_only_the_answers(tiny, glaive_records):
    _, tokenizer = tiny
    messages, tools = next(
        (m, t) for m, t in glaive_records if any(x.get("role") == "tool" for x in m)
    )
    encoded = entry.encode_sft(
        tokenizer, PromptSpec(), [{"messages": messages, "tools": tools}], max_length=4096
    )
    parts = spans(tokenizer, encoded.input_ids[0], encoded.labels[0])
    trained = "".join(p.text for p in parts if p.trained)
    context = "".join(p.text for p in parts if not p.trained)
    call = next(m for m in messages if m.get("tool_calls"))["tool_calls"][0]["function"]["name"]
    assert f'<tool_call>{{"name": "{call}"' in trained
    assert "<tool_response>" in context and "<tool_response>" not in trained
    assert next(m for m in messages if m["role"] == "user")["content"][:10] in context


def test_a_changed_file_is_refused(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": []}\n')
    with pytest.raises(entry.DataError, match="sha256 differs"):
        entry.read_rows(path, sha256="0" * 64)


@pytest.mark.slow
def test_the_entry_point_runs_under_accelerate_launch(tmp_path, tiny_model_dir, glaive_records):
    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": m, "tools": t}, ensure_ascii=False) + "\n"
            for m, t in glaive_records[:6]
        )
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = {
        "config": {"max_steps": 2, "batch_size": 2, "max_length": 96, "precision": "fp32"},
        "model": {"name": "tiny", "kind": "local", "source": str(tiny_model_dir)},
        "cache_dir": str(tmp_path / "cache"),
        "prompt": {},
        "data": {"train": [{"path": str(data)}], "test": [{"path": str(data)}]},
        "output_dir": str(tmp_path / "out"),
    }
    (workdir / "config.json").write_text(json.dumps(config))
    accelerate = Path(sys.executable).parent / "accelerate"
    completed = subprocess.run(
        [
            str(accelerate),
            "launch",
            "--num_processes",
            "1",
            "--cpu",
            "-m",
            "training.entry",
            str(workdir / "config.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((workdir / "result.json").read_text())
    assert result["steps"] == 2 and result["rows"] == 6
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()
    lines = (workdir / "progress.jsonl").read_text().splitlines()
    phases = [json.loads(line).get("phase") for line in lines]
    # the page can say what runs after the last step: the final evaluation, then the save
    assert phases[:2] == ["train", "train"] and phases[-2:] == ["final_evaluation", "save"]
