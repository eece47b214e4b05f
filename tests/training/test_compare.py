"""Tune-and-compare end to end with a tiny random model and a tiny LoRA adapter."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from core.errors import InvalidInput
from curation.models import ExportSnapshot, Record
from jobs.models import Job
from jobs.progress import PhasedProgress
from training import compare, compare_entry
from training.models import BaseModel, Comparison, TrainingRun

STOCK = {"name": "check_stock", "arguments": {"product": "蓝色T恤"}}


def chat(user: str, answer: dict | str) -> dict:
    if isinstance(answer, str):
        reply = {"role": "assistant", "content": answer}
    else:
        function = {"name": answer["name"], "arguments": json.dumps(answer["arguments"])}
        reply = {"role": "assistant", "content": "", "tool_calls": [{"function": function}]}
    return {"messages": [{"role": "user", "content": user}, reply]}


TRAIN = [
    chat(
        "有没有红色连衣裙的库存？", {"name": "check_stock", "arguments": {"product": "红色连衣裙"}}
    ),
    chat("你好", "你好！请问需要什么？"),
]
TEST = [
    chat("查一下蓝色T恤还有货吗", STOCK),
    {
        "messages": [
            {"role": "user", "content": "白色球鞋有库存吗"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "check_stock", "arguments": '{"product": "白色球鞋"}'}}
                ],
            },
            {"role": "tool", "content": '{"stock": 3}'},
            {"role": "assistant", "content": "白色球鞋还有3双。"},
        ]
    },
    chat("谢谢", "不客气！"),
]


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (non-zero) weights, so the tuned model answers differently."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("run-output")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(model, lora).save_pretrained(out / "adapter")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out / "adapter")
    (out / "manifest.json").write_text(json.dumps({"prompt": {"system_prompt": ""}}))
    return out / "adapter"


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    settings.JOBS_DIR = tmp_path / "data" / "jobs"
    settings.MODEL_CACHE_DIR = tmp_path / "data" / "models"
    return settings.DATA_DIR


@pytest.fixture
def snapshot(project, data_dir) -> ExportSnapshot:
    folder = data_dir / "exports" / "s1"
    folder.mkdir(parents=True)
    files = []
    for split, rows in (("train", TRAIN), ("test", TEST)):
        (folder / f"{split}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        files.append({"split": split, "path": f"exports/s1/{split}.jsonl", "rows": len(rows)})
    return ExportSnapshot.objects.create(
        project=project, format="openai_chat", files=files, directory="exports/s1"
    )


@pytest.fixture
def run(project, snapshot, people, tiny_model_dir, tiny_adapter) -> TrainingRun:
    base = BaseModel.objects.create(name="tiny-llama", kind="local", source=str(tiny_model_dir))
    return TrainingRun.objects.create(
        project=project,
        snapshot=snapshot,
        base_model=base,
        adapter_path=str(tiny_adapter),
        created_by=people["engineer"],
    )


OPTIONS = {"max_new_tokens": 8, "enqueue": False}
_FINISHED: dict[str, Path] = {}


@pytest.fixture
def finished(run, people, tmp_path_factory) -> Comparison:
    """A succeeded comparison of the run; the child's work is done once per session, in
    process, and its files are copied into each test's job directory."""
    comparison = compare.compare_run(run, people["engineer"], **OPTIONS)
    job = comparison.job
    if "dir" not in _FINISHED:
        workdir = tmp_path_factory.mktemp("compare-child")
        config = compare.child_config(comparison)
        config["probe"]["max_new_tokens"] = 4
        (workdir / "config.json").write_text(json.dumps(config))
        compare_entry.run(workdir / "config.json")
        _FINISHED["dir"] = workdir
    shutil.copytree(_FINISHED["dir"], job.workdir, dirs_exist_ok=True)
    report = json.loads((Path(job.workdir) / "report.json").read_text())
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    Comparison.objects.filter(pk=comparison.pk).update(report=report)
    comparison.refresh_from_db()
    return comparison


SCORED = ("label", "tool_name_correct", "arguments_exact", "errors", "exact", "chrf", "rouge_l")


@pytest.fixture
def scripted(finished) -> Comparison:
    """`finished`, with `tuned` answering like the reference on all but the last example (the
    tiny random model answers blank lines, the same for both), rescored by the child's code."""
    workdir = Path(finished.job.workdir)
    lines = (workdir / "examples.jsonl").read_text(encoding="utf-8").splitlines()
    examples = [json.loads(line) for line in lines]
    by_example = [e.pop("outputs") for e in examples]
    outputs = {name: [o[name] for o in by_example] for name in ("base", "tuned")}
    for outs in outputs.values():
        for out in outs:
            for key in SCORED:
                out.pop(key, None)
    for e, out in zip(examples, outputs["tuned"], strict=True):
        answer = e["reference"] if e["index"] < len(examples) - 1 else "好的"
        kind = "text" if isinstance(answer, str) else "tool_calls"
        out |= {"answer": answer, "raw": compare_entry.answer_text(answer), "parse": kind}
    report = finished.report | compare_entry.score(examples, outputs, {})
    compare_entry.write_outputs(workdir, examples, outputs, report)
    Comparison.objects.filter(pk=finished.pk).update(report=report)
    finished.refresh_from_db()
    return finished


# --- contenders ------------------------------------------------------------------------------


def test_default_contenders_are_base_with_the_long_prompt_and_tuned_with_the_short(run, project):
    base, tuned = compare.default_contenders(run)
    assert (base["name"], tuned["name"]) == ("base", "tuned")
    assert base["adapter"] == "" and tuned["adapter"] == run.adapter_path
    assert base["prompt"]["system_prompt"] == project.system_prompt
    assert base["prompt"]["tools"] == project.tools
    # the few-shot examples come from the train split, never from the test split
    shots = base["prompt"]["few_shot"]
    assert shots and all(s in [r["messages"] for r in TRAIN] for s in shots)
    assert tuned["prompt"] == {"system_prompt": ""}  # what the run's manifest says it trained on


def test_a_run_without_an_adapter_cannot_be_compared(run):
    from core.errors import InvalidInput

    run.adapter_path = ""
    with pytest.raises(InvalidInput, match="has no adapter"):
        compare.default_contenders(run)


def test_a_snapshot_without_a_test_split_is_refused(run, people):
    from core.errors import InvalidInput

    run.snapshot.files = [f for f in run.snapshot.files if f["split"] != "test"]
    run.snapshot.save()
    with pytest.raises(InvalidInput, match="no test split"):
        compare.compare_run(run, people["engineer"], **OPTIONS)


def test_only_engineers_launch(run, people):
    from core.errors import NotAllowed

    with pytest.raises(NotAllowed):
        compare.compare_run(run, people["reviewer"], **OPTIONS)


# --- scoring ---------------------------------------------------------------------------------


def _outputs(answers: list, latency: float) -> list[dict]:
    return [
        {
            "raw": json.dumps(a) if not isinstance(a, str) else a,
            "parse": "text" if isinstance(a, str) else "tool_calls",
            "answer": a,
            "latency_ms": latency,
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "finish_reason": "stop",
        }
        for a in answers
    ]


def test_scoring_fills_each_example_and_aggregates_by_kind():
    examples = compare_entry.load_examples(
        TEST, project_tools=[{"function": {"name": "check_stock"}}]
    )
    assert [e["kind"] for e in examples] == ["tool_call", "tool_call", "text", "text"]
    assert [e["record_kind"] for e in examples] == [
        "instruction",
        "conversation",
        "conversation",
        "instruction",
    ]
    shoes = {"name": "check_stock", "arguments": {"product": "白色球鞋"}}
    right = [[STOCK], [shoes], "白色球鞋还有3双。", "不客气！"]
    wrong = [
        [{"name": "check_stock", "arguments": {"product": "T恤"}}],
        "不知道",
        "白色球鞋还有3双。",
        "好的",
    ]
    outputs = {"base": _outputs(wrong, 900.0), "tuned": _outputs(right, 300.0)}
    batch = {"throughput": {"batch_size": 4, "requests": 4, "seconds": 1.2}}
    report = compare_entry.score(examples, outputs, {"price_per_hour": 3.6}, {"tuned": batch})
    base, tuned = report["headline"]
    # on the two turns that need a tool: base called it once, with a wrong argument
    assert (tuned["tool_turns"], tuned["no_tool_turns"]) == (2, 2)
    assert tuned["tool_name_accuracy"] == 1.0 and base["tool_name_accuracy"] == 0.5
    assert tuned["argument_exact_match"] == 1.0 and base["argument_exact_match"] == 0.0
    assert base["false_call_rate"] == tuned["false_call_rate"] == 0.0
    assert base["label_accuracy_all_turns"] == 0.75  # the merged figure, named as such
    assert tuned["exact_match"] == 1.0 and base["exact_match"] == 0.5
    assert (tuned["latency_p50_ms"], base["latency_p50_ms"]) == (300.0, 900.0)
    # cost from the batch's pace: 1.2 s for 4 requests
    assert tuned["cost_per_1k_requests"] == pytest.approx(3.6 * 0.3 * 1000 / 3600)
    assert base["cost_per_1k_requests"] is None
    assert outputs["base"][0]["errors"] == ["wrong_value"] and outputs["base"][0]["failed"]
    assert outputs["base"][1]["errors"] == ["wrong_tool"]
    assert not any(o["failed"] for o in outputs["tuned"])
    by_kind = report["contenders"][0]["by_kind"]
    assert by_kind["answer:tool_call"]["argument_exact_match"] == 0.0
    assert by_kind["answer:text"]["exact_match"] == 0.5
    latency = next(s for s in report["significance"] if s["metric"] == "latency_ms")
    assert latency["contender"] == "tuned" and latency["difference"] == -600.0
    assert latency["n"] == 4 and not latency["judgeable"] and not latency["significant"]
    # the diff shows what the output lacks against the reference
    assert ("delete", "蓝色") in outputs["base"][0]["diff"]


def test_a_contender_that_never_calls_a_tool_scores_zero_on_tool_call_turns():
    # seen on a public set: 0 tool calls in 28 turns that need one, yet "tool-name accuracy"
    # 0.60, carried by the turns where no tool is right
    rows = [chat(f"查一下{n}号商品的库存", STOCK) for n in range(2)]
    rows += [chat(f"谢谢{n}", "不客气！") for n in range(6)]
    examples = compare_entry.load_examples(rows, project_tools=[{"name": "check_stock"}])
    silent = ["好的"] * 8
    eager = [[STOCK]] * 8  # calls the tool on every turn
    outputs = {"silent": _outputs(silent, 1.0), "eager": _outputs(eager, 1.0)}
    silent_h, eager_h = compare_entry.score(examples, outputs, {})["headline"]
    assert (silent_h["tool_turns"], silent_h["no_tool_turns"]) == (2, 6)
    assert silent_h["tool_name_accuracy"] == 0.0 and silent_h["argument_exact_match"] == 0.0
    assert silent_h["false_call_rate"] == 0.0
    assert silent_h["label_accuracy_all_turns"] == 0.75  # what the old headline led with
    assert eager_h["tool_name_accuracy"] == 1.0 and eager_h["false_call_rate"] == 1.0


def test_the_latency_story_says_longer_answers_outweigh_a_faster_first_token():
    # seen on a public set: the tuned model's prompt is half as long, yet its p50 is slower,
    # because its right answers are longer than the base model's short wrong ones
    examples = compare_entry.load_examples(
        [chat(f"查一下{n}号", STOCK) for n in range(4)], project_tools=None
    )

    def timed(first_token: float, tokens: int, prompt: int) -> list[dict]:
        outs = _outputs(["x"] * 4, first_token + 20.0 * (tokens - 1))
        for o in outs:
            o |= {"first_token_ms": first_token, "completion_tokens": tokens}
            o["prompt_tokens"] = prompt
        return outs

    outputs = {"base": timed(400.0, 29, 614), "tuned": timed(200.0, 41, 309)}
    report = compare_entry.score(examples, outputs, {})
    (story,) = report["latency_story"]
    assert story["first_token"] == pytest.approx(0.5) and story["decode_per_token"] == 1.0
    assert story["latency_p50"] > 1 and story["main"] == "answer_length"
    assert story["prompt_tokens"] == [309, 614] and story["completion_tokens_p50"] == [41, 29]
    (line,) = compare.latency_lines(report)
    assert "×0.50" in line and "41 vs 29" in line and "answer length" in line


def test_progress_names_the_phase_and_waits_for_a_pace_before_an_eta(tmp_path):
    plan = [("load", 0), ("test", 4), ("latency", 2), ("load", 0), ("test", 4)]
    progress = PhasedProgress(tmp_path, plan)
    assert progress.total == 10
    progress.phase("load", contender="base")
    progress.phase("test", 4, contender="base")
    progress.advance()
    progress.started -= 3600  # an hour of model loading must not turn into the ETA
    lines = [json.loads(x) for x in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert lines[-1]["phase"] == "test" and lines[-1]["contender"] == "base"
    assert (lines[-1]["phase_done"], lines[-1]["phase_total"]) == (1, 4)
    assert lines[-1]["eta_s"] is None
    progress.phase_started -= 10  # 2 answers in 10 s: 5 s each, 2 to go
    progress.advance()
    assert progress.eta() == pytest.approx(10.0, abs=0.5)
    assert progress.eta_total() is None  # no pace for the latency phase yet
    progress.advance(2)  # 4 answers in 10 s
    progress.phase("latency", 2, contender="base")
    progress.phase_started -= 20
    progress.advance(2)  # 10 s per timed request
    progress.phase("load", contender="tuned")
    assert progress.eta_total() == pytest.approx(4 * 2.5, abs=1)  # its test phase to come
    progress.phase("test", 4, contender="tuned")  # the same kind of phase has a pace now
    assert progress.eta() == pytest.approx(10.0, abs=1)
    # answering again unmerged (the merge changed an answer) adds to the total, not the plan
    progress.phase("test", 4, extra=True, contender="tuned", unmerged=True)
    assert progress.total == 14 and progress.plan == []


def test_a_base_models_probe_answers_are_cached(tiny, tiny_model_dir, tmp_path):
    model, tokenizer = tiny
    base = {
        "name": "base",
        "model": {"name": "tiny", "kind": "local", "source": str(tiny_model_dir)},
    }
    setup = {"cache_dir": str(tmp_path), "dtype": "float32", "probe": {"max_new_tokens": 2}}
    progress = PhasedProgress(tmp_path, [])
    first, how = compare_entry.answer_probe(model, tokenizer, setup, progress, base, 8)
    assert how == "miss" and len(first) > 10
    again, how = compare_entry.answer_probe(None, None, setup, progress, base, 8)
    assert how == "hit" and again == first
    # another answer length is another key; a tuned contender is never cached
    assert compare_entry.probe_cache_path(setup | {"probe": {"max_new_tokens": 3}}, base) != (
        compare_entry.probe_cache_path(setup, base)
    )
    assert compare_entry.probe_cache_path(setup, base | {"adapter": "/a"}) is None


def test_a_text_only_project_has_no_tool_metrics():
    examples = compare_entry.load_examples([chat("谢谢", "不客气！")], project_tools=None)
    outputs = {"a": _outputs(["不客气！"], 1.0), "b": _outputs(["好"], 2.0)}
    report = compare_entry.score(examples, outputs, {})
    assert report["headline"][0]["tool_name_accuracy"] is None
    assert report["headline"][0]["chrf"] == 100.0


# --- the job ---------------------------------------------------------------------------------


def test_the_child_answers_every_turn_for_every_contender_and_probes_forgetting(finished):
    report = finished.report
    assert report["examples"] == 4 and report["rows"] == 3
    assert [h["name"] for h in report["headline"]] == ["base", "tuned"]
    base, tuned = report["headline"]
    assert base["prompt_tokens_mean"] > tuned["prompt_tokens_mean"]  # the long prompt
    assert all(0 <= h["tool_name_accuracy"] <= 1 and h["latency_p50_ms"] > 0 for h in (base, tuned))
    examples = compare.examples_of(finished)
    assert len(examples) == 4
    for e in examples:
        for out in e["outputs"].values():
            assert out["prompt_tokens"] > 0 and out["completion_tokens"] > 0
            assert "diff" in out and "label" in out
    probe = report["probe"]
    assert probe["drift"]["n"] == len(probe["rows"]) > 10
    # where it ran, in the report's settings, its words and the job's log
    assert (report["settings"]["device"], report["settings"]["dtype"]) == ("cpu", "float32")
    assert all(c["ran"]["device"] == "cpu" for c in report["contenders"])
    assert "Device: cpu." in compare.settings_lines(report)
    assert set(probe["rows"][0]["answers"]) == {"base", "tuned"}


@pytest.mark.django_db(transaction=True)
def test_the_compare_command_runs_the_job_and_prints_json(run, capsys):
    call_command(
        "compare",
        "--run",
        str(run.pk),
        "--inline",
        "--json",
        "--limit",
        "1",
        "--max-new-tokens",
        "4",
        "--no-probe",
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["examples"] == 1
    names = [c["name"] for c in summary["contenders"]]
    assert names == ["base", "tuned"]
    for c in summary["contenders"]:
        assert isinstance(c["tool_name_accuracy"], float)
        assert isinstance(c["latency_p50_ms"], float) and isinstance(c["prompt_tokens_mean"], float)
        assert c["chrf"] is None  # the one test row answers with a tool call: no text metrics
    comparison = Comparison.objects.get(pk=summary["comparison"])
    # 1 answer each, 1 timed alone each, and 1 merge check of the tuned adapter
    assert comparison.job.done == comparison.job.total == 5
    # the job's log says where the models ran (modelload.placement): the CPU here
    log = (Path(comparison.job.workdir) / "job.log").read_text()
    assert "Comparing on device cpu, dtype " in log


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_comparison(run, people):
    from jobs import services as jobs

    comparison = compare.compare_run(run, people["engineer"], **OPTIONS)

    def cancel_soon():
        time.sleep(1.0)
        jobs.request_cancel(Job.objects.get(pk=comparison.job_id))

    threading.Thread(target=cancel_soon).start()
    job = compare.run_compare_job(comparison.job)
    assert job.status == Job.Status.CANCELLED
    comparison.refresh_from_db()
    assert comparison.report == {}


# --- failures back to work -------------------------------------------------------------------


def test_failures_go_to_the_annotation_queue_once(scripted, people):
    finished = scripted
    examples = compare.examples_of(finished)
    failed = [e for e in examples if e["outputs"]["base"]["failed"]]
    assert len(failed) == 2  # blank answers where a tool call was due
    sent = compare.send_failures_to_queue(finished, people["engineer"], contender="base")
    assert sent["created"] == len(failed)
    records = Record.objects.filter(tags__name=f"compare-failure:{finished.pk}")
    assert records.count() == len(failed)
    for record in records:
        assert record.status == Record.Status.NEW and record.split == Record.Split.TEST
        assert record.messages[-1]["role"] == "assistant"  # the reference answer
        draft = record.drafts.get()
        assert draft.text == examples[record.source_index]["outputs"]["base"]["raw"]
    again = compare.send_failures_to_queue(finished, people["engineer"], contender="base")
    assert again["created"] == 0


def test_reviewers_cannot_send_failures(finished, people):
    from core.errors import NotAllowed

    with pytest.raises(NotAllowed):
        compare.send_failures_to_queue(finished, people["reviewer"], contender="base")


# --- blind A/B -------------------------------------------------------------------------------


def test_sides_are_random_per_example_but_fixed_per_judge(finished, people):
    rita, emil = people["reviewer"], people["engineer"]
    plans = [compare._ab_plan(finished, rita, i) for i in range(40)]
    assert {p[0] for p in plans} == {"base", "tuned"}  # each side holds each contender
    assert plans == [compare._ab_plan(finished, rita, i) for i in range(40)]
    assert plans != [compare._ab_plan(finished, emil, i) for i in range(40)]


def test_a_judgement_counts_for_the_contender_on_the_chosen_side(scripted, people):
    finished = scripted
    item = compare.next_ab(finished, people["reviewer"])
    assert item is not None
    left, _right = compare._ab_plan(finished, people["reviewer"], item["index"])
    compare.record_judgement(finished, people["reviewer"], example=item["index"], choice="left")
    (rate,) = compare.win_rates(finished)
    wins = rate["wins"] if left == rate["a"] else rate["losses"]
    assert (wins, rate["n"]) == (1, 1)
    assert compare.next_ab(finished, people["reviewer"])["index"] != item["index"]


# --- the BFCL probe --------------------------------------------------------------------------

needs_bfcl = pytest.mark.skipif(
    __import__("importlib").util.find_spec("bfcl_eval") is None,
    reason="bfcl-eval is not installed (requirements-nodeps.txt)",
)


@needs_bfcl
def test_the_bfcl_probe_reports_each_contenders_accuracy_and_n(run, people, tmp_path, client_for):
    comparison = compare.compare_run(
        run, people["engineer"], limit=1, probe=False, bfcl_probe=3, latency_sample=0, **OPTIONS
    )
    config = compare.child_config(comparison)
    assert config["bfcl_probe"] | {"max_new_tokens": 4} == {
        "category": "simple",
        "rows": 3,
        "seed": 0,
        "contenders": ["base", "tuned"],
        "max_new_tokens": 4,
    }
    config["bfcl_probe"]["max_new_tokens"] = 4
    (tmp_path / "config.json").write_text(json.dumps(config))
    compare_entry.run(tmp_path / "config.json")
    report = json.loads((tmp_path / "report.json").read_text())
    figures = report["bfcl_probe"]["contenders"]
    assert set(figures) == {"base", "tuned"}
    for name, f in figures.items():
        assert f["n"] == 3 and f["correct"] + sum(f["errors"].values()) == 3
        headline = next(h for h in report["headline"] if h["name"] == name)
        assert headline["bfcl_n"] == 3 and headline["bfcl_accuracy"] == f["accuracy"]
    rows = report["bfcl_probe"]["rows"]
    assert len(rows) == 3 and all(set(r["answers"]) == {"base", "tuned"} for r in rows)
    ran = {c["name"]: c["ran"] for c in report["contenders"]}
    assert ran["base"]["bfcl_probe_cache"] == "miss"  # cached for the next comparison
    assert ran["tuned"]["bfcl_probe_cache"] == "not cached (tuned)"
    again, how = compare_entry.answer_probe(
        None,
        None,
        config | {"dtype": report["settings"]["dtype"]},
        PhasedProgress(tmp_path, []),
        config["contenders"][0],
        8,
        kind="bfcl",
    )
    assert how == "hit" and set(again) == {r["id"] for r in rows}
    assert "probe_cache" not in ran["base"]  # the general probe was off
    sections = {s["title"]: s for s in compare.headline_sections(report)}
    assert sections["General tool calling (BFCL probe)"]["n"] == 3
    Comparison.objects.filter(pk=comparison.pk).update(report=report)
    page = client_for("engineer").get(
        reverse("training:comparison", args=[run.project.slug, comparison.pk])
    )
    cells = re.findall(
        r'<tr data-contender="(\w+)"><td>\w+</td><td class="num">(\d+)</td>', page.text
    )
    assert cells == [("base", "3"), ("tuned", "3")]


@needs_bfcl
def test_bfcl_answers_are_parsed_into_calls_and_judged_by_bfcls_rules():
    from training import bfcl
    from training.prompting import tool_call_text

    setup = {"bfcl_probe": {"category": "simple", "rows": 4, "contenders": ["base", "tuned"]}}
    cases = compare_entry.bfcl_cases(setup)
    right = {c.id: tool_call_text(**c.reference()[0]) for c in cases}
    renamed = {c.id: tool_call_text("not_" + c.reference()[0]["name"], {}) for c in cases}
    wrong = renamed | {cases[0].id: "I cannot help with that.", cases[1].id: right[cases[1].id]}
    report = compare_entry.bfcl_report(setup, {"base": wrong, "tuned": right})
    base, tuned = report["contenders"]["base"], report["contenders"]["tuned"]
    assert tuned == {"n": 4, "correct": 4, "errors": {}, "accuracy": 1.0}
    assert base == {
        "n": 4,
        "correct": 1,
        "errors": {"wrong_count": 1, "wrong_func_name": 2},
        "accuracy": 0.25,
    }
    first = report["rows"][0]
    assert first["answers"]["base"] == {
        "raw": "I cannot help with that.",
        "parse": "text",
        "valid": False,
        "error": "wrong_count",
    }
    assert first["question"] == cases[0].messages[-1]["content"]
    assert first["reference"].startswith(cases[0].reference()[0]["name"] + " {")
    assert bfcl.check(cases[0], cases[0].reference()).valid  # what the page shows is accepted


def test_a_bfcl_probe_without_bfcls_data_is_refused_with_how_to_install(run, people, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bfcl_eval", None)  # as if it were not installed
    with pytest.raises(InvalidInput) as refused:
        compare.compare_run(run, people["engineer"], bfcl_probe=3, **OPTIONS)
    assert "not installed" in refused.value.message
    assert "pip install --no-deps -r requirements-nodeps.txt" in refused.value.hint
    assert not Comparison.objects.exists()
    # off, it needs nothing
    assert (
        compare.compare_run(run, people["engineer"], **OPTIONS).job.params.get("bfcl_probe") is None
    )


def test_the_api_takes_the_bfcl_probe_and_refuses_a_bad_category(run, api_for):
    client = api_for("engineer")
    path = f"/api/projects/{run.project.slug}/comparisons/"
    bad = client.post(path, {"run": run.pk, "bfcl_probe": 3, "bfcl_category": "x"}, format="json")
    assert bad.status_code == 400 and "bfcl_category" in json.dumps(bad.json())
    if __import__("importlib").util.find_spec("bfcl_eval") is None:
        pytest.skip("bfcl-eval is not installed (requirements-nodeps.txt)")
    response = client.post(
        path, {"run": run.pk, "bfcl_probe": 3, "bfcl_category": "live_simple"}, format="json"
    )
    assert response.status_code == 201, response.json()
    params = Comparison.objects.get(pk=response.json()["id"]).job.params
    assert (params["bfcl_probe"], params["bfcl_category"]) == (3, "live_simple")


def test_the_bfcl_probe_is_refused_for_an_http_contender(run, people):
    BaseModel.objects.create(
        name="served", kind=BaseModel.Kind.HTTP, base_url="http://127.0.0.1:9/v1", api_model="m"
    )
    with pytest.raises(InvalidInput, match="local models only; base is an HTTP endpoint"):
        compare.compare_run(
            run, people["engineer"], names=["base=model:served", "tuned"], bfcl_probe=3, **OPTIONS
        )
