"""Replay: general rows mixed into training, in the shares asked, recorded in the manifest."""

from __future__ import annotations

import json

import pytest

from training import entry
from training.config import ConfigError, RunConfig
from training.probes import load_probe
from training.replay import ReplayError, load_set, mix, set_path


def _task(n: int) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(n)
    ]


def test_the_shipped_set_is_chinese_and_english_and_stays_clear_of_the_probe():
    rows, sha256 = load_set("general")
    assert {r["lang"] for r in rows} == {"zh", "en"} and len(sha256) == 64
    assert sum(r["lang"] == "zh" for r in rows) == sum(r["lang"] == "en" for r in rows)
    probe = {p["question"] for p in load_probe()}
    assert not probe & {r["instruction"] for r in rows}
    for row in rows:  # every row is one the training child reads as an answer to learn
        messages, _ = entry.sft_example(row)
        assert messages[-1]["role"] == "assistant" and messages[-1]["content"]
    readme = (set_path("general").parent / "README.md").read_text(encoding="utf-8")
    assert "licence" in readme and "CC BY-NC 4.0" in readme


def test_mix_adds_general_rows_from_both_languages_in_the_share_asked():
    general, _ = load_set("general")
    task = _task(90)
    rows, record = mix(task, general, share=0.1, seed=0)
    assert rows[:90] == task
    added = rows[90:]
    assert len(added) == 10 == record["rows"] and record["share_reached"] == 0.1
    assert record["by_lang"] == {"en": 5, "zh": 5}
    assert all("instruction" in r and "lang" not in r for r in added)
    again, _ = mix(task, general, share=0.1, seed=0)
    other, _ = mix(task, general, share=0.1, seed=1)
    assert again == rows and other != rows  # seeded, and the seed matters


def test_mix_gives_what_a_small_set_has_and_says_the_share_reached():
    general = [{"lang": "zh", "instruction": "q", "output": "a"}] * 3
    rows, record = mix(_task(10), general, share=0.5, seed=0)
    assert record["rows"] == 3 and len(rows) == 13 and record["share_reached"] == 0.2308
    assert mix(_task(10), general, share=0.0)[1]["rows"] == 0
    with pytest.raises(ReplayError):
        mix(_task(10), general, share=0.9)


@pytest.mark.parametrize(
    "config,field",
    [
        ({"replay": 0.7}, "replay"),
        ({"replay": 0.1, "method": "dpo"}, "replay"),
        ({"replay": 0.1, "replay_set": "../secrets"}, "replay_set"),
        ({"replay": 0.1, "replay_set": "nope"}, "replay_set"),
    ],
)
def test_a_wrong_replay_setting_is_refused_by_name(config, field):
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_dict(config)
    assert caught.value.field == field


def test_the_manifest_records_the_replay_mix(tmp_path, tiny_model_dir):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _task(6)))
    config = {
        "config": {"max_steps": 1, "batch_size": 4, "precision": "fp32", "replay": 0.25},
        "model": {"name": "tiny", "kind": "local", "source": str(tiny_model_dir)},
        "cache_dir": str(tmp_path / "cache"),
        "prompt": {},
        "data": {"train": [{"path": str(data)}], "test": []},
        "output_dir": str(tmp_path / "out"),
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = entry.run(tmp_path / "config.json")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    replay = manifest["replay"]
    assert (replay["set"], replay["share"], replay["rows"], replay["task_rows"]) == (
        "general",
        0.25,
        2,
        6,
    )
    assert replay["by_lang"] == {"en": 1, "zh": 1}
    assert replay["sha256"] == load_set("general")[1]
    assert result["rows"] == 8 and manifest["config"]["replay"] == 0.25
