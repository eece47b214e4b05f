"""Training runs end to end through the worker's task: SFT, DPO, cancel, crash, orphans, rerun."""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from core.errors import InvalidInput, NotAllowed
from curation.models import ExportSnapshot
from jobs import services as jobs
from jobs.models import Job
from training import runs
from training.models import BaseModel

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {"max_steps": 3, "batch_size": 2, "learning_rate": 1e-2, "max_length": 192}


@pytest.fixture(autouse=True)
def dirs(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.RUNS_DIR = tmp_path / "data" / "runs"
    settings.JOBS_DIR = tmp_path / "data" / "jobs"
    settings.EXPORT_DIR = tmp_path / "data" / "exports"
    settings.MODEL_CACHE_DIR = tmp_path / "models"


@pytest.fixture
def tiny_base(tiny_model_dir):
    return BaseModel.objects.create(name="tiny", kind="local", source=str(tiny_model_dir))


def write_snapshot(project, rows: list[dict], *, fmt: str, test: int = 2) -> ExportSnapshot:
    from django.conf import settings

    directory = Path("exports") / project.slug / f"t-{fmt}"
    (settings.DATA_DIR / directory).mkdir(parents=True, exist_ok=True)
    files = []
    for split, part in (("train", rows[test:]), ("test", rows[:test])):
        path = settings.DATA_DIR / directory / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
        import hashlib

        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.append(
            {"split": split, "path": f"{split}.jsonl", "rows": len(part), "sha256": digest}
        )
    return ExportSnapshot.objects.create(
        project=project, format=fmt, files=files, directory=str(directory)
    )


@pytest.fixture
def chat_snapshot(project, glaive_records):
    rows = [{"messages": m, "tools": t} for m, t in glaive_records[:10]]
    return write_snapshot(project, rows, fmt="openai_chat")


@pytest.fixture
def dpo_snapshot(project, shared_data):
    data = json.loads((shared_data / "dpo_zh_demo.json").read_text(encoding="utf-8"))
    rows = []
    for item in data[:8]:
        question = next(t["value"] for t in item["conversations"] if t["from"] == "human")
        rows.append(
            {
                "messages": [{"role": "user", "content": question[:40]}],
                "chosen": {"role": "assistant", "content": item["chosen"]["value"][:40]},
                "rejected": {"role": "assistant", "content": item["rejected"]["value"][:40]},
            }
        )
    return write_snapshot(project, rows, fmt="messages_preference")


def launch(project, people, base, snapshot, *, method="sft", **config):
    return runs.launch_run(
        project,
        people["engineer"],
        base_model=base,
        snapshot=snapshot,
        method=method,
        config={**FAST, **config},
    )


def logits(model_dir: Path, adapter: str | None):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter:
        model = PeftModel.from_pretrained(model, adapter)
    with torch.no_grad():
        return model(input_ids=torch.tensor([[5, 17, 42, 99, 7]])).logits


def test_an_sft_run_trains_through_the_worker_and_its_adapter_changes_outputs(
    project, people, tiny_base, chat_snapshot, tiny_model_dir
):
    run = launch(project, people, tiny_base, chat_snapshot)
    job = runs.run_inline(run)
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    summary = runs.run_summary(run)
    assert math.isfinite(summary["train_loss"]) and math.isfinite(summary["eval_loss"])
    assert summary["rows"] == 8 and 0 < summary["real_token_share"] <= 1
    adapter = Path(run.adapter_path)
    assert (adapter / "adapter_model.safetensors").is_file()
    assert (adapter / "tokenizer_config.json").is_file()
    before, after = logits(tiny_model_dir, None), logits(tiny_model_dir, str(adapter))
    assert not (before - after).abs().max() < 1e-6
    manifest = json.loads((adapter.parent / "manifest.json").read_text())
    assert manifest["data"]["train"][0]["sha256"] == chat_snapshot.files[0]["sha256"]
    assert manifest["config"]["lora_rank"] == 16 and manifest["config"]["seed"] == 0
    assert {"torch", "transformers", "peft", "trl"} <= set(manifest["versions"])
    assert job.total == 3 and job.metrics["loss"] > 0
    assert (adapter.parent / "train.log").is_file()
    assert len(runs.loss_history(run)["loss"]) == 3


def test_a_dpo_run_trains_a_lora_adapter_on_preference_rows(
    project, people, tiny_base, dpo_snapshot, tiny_model_dir
):
    run = launch(project, people, tiny_base, dpo_snapshot, method="dpo", max_length=512)
    job = runs.run_inline(run)
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    assert math.isfinite(job.result["train_loss"]) and job.result["rows"] == 6
    before, after = logits(tiny_model_dir, None), logits(tiny_model_dir, run.adapter_path)
    assert not (before - after).abs().max() < 1e-6


def test_relaunching_from_a_manifest_reproduces_the_run(project, people, tiny_base, chat_snapshot):
    from safetensors.torch import load_file

    first = launch(project, people, tiny_base, chat_snapshot, precision="fp32")
    assert runs.run_inline(first).status == Job.Status.SUCCEEDED
    manifest = Path(first.adapter_path).parent / "manifest.json"
    second = runs.launch_from_manifest(project, people["engineer"], manifest)
    assert runs.run_inline(second).status == Job.Status.SUCCEEDED
    assert second.pk != first.pk and second.config == first.config
    assert first.job.result["train_loss"] == second.job.result["train_loss"]
    a = load_file(Path(first.adapter_path) / "adapter_model.safetensors")
    b = load_file(Path(second.adapter_path) / "adapter_model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_cancel_stops_a_running_run_within_seconds(project, people, tiny_base, chat_snapshot):
    run = launch(project, people, tiny_base, chat_snapshot, max_steps=100000)
    progress = Path(run.job.workdir) / "progress.jsonl"

    def cancel_once_training():
        deadline = time.monotonic() + 120
        while not progress.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        runs.cancel_run(run, people["engineer"])

    threading.Thread(target=cancel_once_training).start()
    job = runs.run_inline(run)
    assert job.status == Job.Status.CANCELLED
    assert job.finished_at - Job.objects.get(pk=job.pk).started_at < timedelta(seconds=60)
    assert "cancelled" in job.log_tail


def test_a_crashing_run_fails_and_explains_itself(project, people, tiny_base, chat_snapshot):
    run = launch(project, people, tiny_base, chat_snapshot)
    config = Path(run.job.workdir) / "config.json"
    data = json.loads(config.read_text())
    data["config"]["learning_rate"] = "fast"
    config.write_text(json.dumps(data))
    job = runs.run_inline(run)
    assert job.status == Job.Status.FAILED
    assert "learning_rate" in job.error and "Traceback" in job.log_tail


def test_a_changed_snapshot_file_fails_the_run(project, people, tiny_base, chat_snapshot):
    run = launch(project, people, tiny_base, chat_snapshot)
    path = Path(runs.snapshot_files(chat_snapshot, "train")[0]["path"])
    path.write_text(path.read_text() + "\n")
    job = runs.run_inline(run)
    assert job.status == Job.Status.FAILED and "sha256 differs" in job.error


def test_an_orphaned_run_is_marked_failed_by_the_next_worker_task(
    project, people, tiny_base, chat_snapshot
):
    from jobs.tasks import run_job

    orphan = launch(project, people, tiny_base, chat_snapshot)
    Job.objects.filter(pk=orphan.job_id).update(
        status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=3)
    )
    other = jobs.create_job("nosuchkind", params={})
    run_job.call(other.pk)
    orphan.job.refresh_from_db()
    assert orphan.job.status == Job.Status.FAILED and "no heartbeat" in orphan.job.error


def test_a_bad_hyper_parameter_is_refused_at_launch_with_its_name(
    project, people, tiny_base, chat_snapshot
):
    with pytest.raises(InvalidInput) as caught:
        launch(project, people, tiny_base, chat_snapshot, lora_rank=0)
    assert caught.value.where == "lora_rank" and "positive" in caught.value.message


def test_only_engineers_launch_runs(project, people, tiny_base, chat_snapshot):
    with pytest.raises(NotAllowed):
        runs.launch_run(project, people["reviewer"], base_model=tiny_base, snapshot=chat_snapshot)


def test_a_fresh_snapshot_splits_the_accepted_records(project, people):
    from curation.models import Record

    for i in range(12):
        Record.objects.create(
            project=project,
            kind="conversation",
            status=Record.Status.ACCEPTED if i < 10 else Record.Status.NEW,
            messages=[
                {"role": "user", "content": f"库存 {i}"},
                {"role": "assistant", "content": f"有 {i} 件"},
            ],
            content_hash=str(i),
        )
    snapshot = runs.take_snapshot(project, people["engineer"], test_ratio=0.3, seed=1)
    assert snapshot.counts["train"] + snapshot.counts.get("test", 0) == 10
    train = runs.snapshot_files(snapshot, "train")[0]
    lines = Path(train["path"]).read_text().splitlines()
    assert len(lines) == snapshot.counts["train"] and "messages" in json.loads(lines[0])
