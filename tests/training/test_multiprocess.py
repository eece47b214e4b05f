"""A run that asks for two processes: the worker launches it under torchrun (CPU, gloo).

It ends with one adapter and the loss of the one-process run with the same global batch;
cancel and a dying worker stop every rank.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from jobs import services as jobs
from jobs.models import Job
from training import runs
from training.models import BaseModel, TrainingRun
from training.runs import CONFIG_NAME

from .test_runs import dirs, write_snapshot  # noqa: F401 - dirs is an autouse fixture

pytestmark = pytest.mark.django_db(transaction=True)

# Two processes of batch 2 take the same rows per step as one process of batch 2 with two
# accumulated micro-batches. The losses differ only in how a step's tokens are averaged
# (per rank, then over ranks, against over the whole step) and in summation order.
TOLERANCE = 0.02
SMALL = {"batch_size": 2, "max_length": 128, "learning_rate": 1e-2, "precision": "fp32"}
SMALL |= {"compile": "off"}  # the long runs below are cancelled long before compiling pays


@pytest.fixture
def tiny_base(tiny_model_dir):
    return BaseModel.objects.create(name="tiny", kind="local", source=str(tiny_model_dir))


@pytest.fixture
def snapshot(project, glaive_records):
    rows = [{"messages": m, "tools": t} for m, t in glaive_records[:10]]
    return write_snapshot(project, rows, fmt="openai_chat", test=2)


def launch(project, people, base, snapshot, **config):
    return runs.launch_run(
        project,
        people["engineer"],
        base_model=base,
        snapshot=snapshot,
        config={**SMALL, **config},
    )


def pids_of(run, *, besides: tuple[int, ...] = ()) -> list[int]:
    """Live processes (not zombies) whose command line names the run's config.json."""
    needle = str(Path(run.job.workdir) / CONFIG_NAME).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), *besides):
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def none_left(run, *, within_s: float = 10) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := pids_of(run)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def wait_for_training(run, *, within_s: float = 120) -> None:
    progress = Path(run.job.workdir) / "progress.jsonl"
    deadline = time.monotonic() + within_s
    while not progress.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert progress.exists(), "the run never started training"


@pytest.mark.slow
def test_two_processes_end_with_one_adapter_and_the_loss_of_one(
    project, people, tiny_base, snapshot, settings
):
    one = launch(project, people, tiny_base, snapshot, max_steps=2, grad_accum=2)
    two = launch(project, people, tiny_base, snapshot, max_steps=2, processes=2)
    assert runs.run_inline(one).status == Job.Status.SUCCEEDED
    job = runs.run_inline(two)
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log_tail
    a, b = runs.run_summary(one), runs.run_summary(two)
    assert abs(a["eval_loss"] - b["eval_loss"]) < TOLERANCE, (a, b)
    assert abs(a["train_loss"] - b["train_loss"]) < TOLERANCE, (a, b)
    assert a["rows"] == b["rows"] == 8
    adapters = list(Path(settings.RUNS_DIR).glob(f"run-{two.pk}/**/adapter_model.safetensors"))
    assert adapters == [Path(two.adapter_path) / "adapter_model.safetensors"]
    manifest = json.loads((Path(two.adapter_path).parent / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["config"]["processes"] == 2
    # rank 0 alone writes progress and says where it trains: each step once, one line
    assert [step for step, _ in runs.loss_history(two)["loss"]] == [1, 2]
    log = (Path(two.adapter_path).parent / "train.log").read_text()
    assert log.count("Training on device cpu, precision fp32, 2 process(es).") == 1
    assert not none_left(two, within_s=5)


@pytest.mark.slow
def test_cancel_stops_every_process_of_the_run(project, people, tiny_base, snapshot):
    run = launch(project, people, tiny_base, snapshot, max_steps=100000, processes=2)
    seen: list[int] = []

    def cancel_once_training():
        wait_for_training(run)
        seen.extend(pids_of(run))
        runs.cancel_run(run, people["engineer"])

    threading.Thread(target=cancel_once_training).start()
    job = runs.run_inline(run)
    assert job.status == Job.Status.CANCELLED
    assert len(seen) == 3  # torchrun and its two ranks
    assert not none_left(run)


@pytest.mark.slow
def test_a_killed_worker_takes_every_rank_with_it(project, people, tiny_base, snapshot):
    run = launch(project, people, tiny_base, snapshot, max_steps=100000, processes=2)
    argv = jobs.python_module(
        "training.entry", str(Path(run.job.workdir) / CONFIG_NAME), processes=2
    )
    # a stand-in worker: starts the child as run_child does, then is killed with SIGKILL
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from jobs.lifeline import die_with_parent\n"
            f"subprocess.Popen({argv!r}, preexec_fn=die_with_parent)\n"
            "time.sleep(600)\n",
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        wait_for_training(run)
        assert len(pids_of(run, besides=(worker.pid,))) == 3  # torchrun and its two ranks
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert not none_left(run)


def test_every_door_records_the_processes_asked_for(
    project, people, tiny_base, snapshot, client_for, api_for
):
    from django.contrib.auth.models import Permission

    call_command(
        "train",
        "--project=shop",
        "--base-model=tiny",
        f"--snapshot={snapshot.pk}",
        "--processes=2",
        "--user=emil",
        stdout=io.StringIO(),
    )
    engineer = client_for("engineer")
    form = {"base_model": tiny_base.pk, "snapshot": snapshot.pk, "method": "sft", "lora_rank": 8}
    form |= {"lora_alpha": 16, "epochs": 1, "batch_size": 2, "grad_accum": 1, "max_length": 128}
    form |= {"precision": "fp32", "seed": 0, "queue": "default", "processes": 3}
    assert engineer.post(reverse("training:runs", args=[project.slug]), form).status_code == 302
    people["engineer"].user_permissions.add(
        *Permission.objects.filter(codename__endswith="trainingrun")
    )
    admin_form = {"project": project.pk, "snapshot": snapshot.pk, "base_model": tiny_base.pk}
    admin_form |= {"method": "sft", "config": "{}", "queue": "default", "processes": 4}
    added = engineer.post(reverse("admin:training_trainingrun_add"), admin_form)
    assert added.status_code == 302, added.content.decode()[:2000]
    created = api_for("engineer").post(
        f"/api/projects/{project.slug}/runs/",
        {"snapshot": snapshot.pk, "base_model": "tiny", "config": {"processes": 5}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    asked = [run.config["processes"] for run in TrainingRun.objects.order_by("pk")]
    assert asked == [2, 3, 4, 5]
    child = json.loads(
        (Path(TrainingRun.objects.order_by("pk").last().job.workdir) / CONFIG_NAME).read_text()
    )
    assert child["config"]["processes"] == 5
    refused = api_for("engineer").post(
        f"/api/projects/{project.slug}/runs/",
        {"snapshot": snapshot.pk, "base_model": "tiny", "config": {"processes": 0}},
        format="json",
    )
    assert refused.status_code == 400 and refused.json()["error"]["where"] == "processes"


def test_the_worker_launches_a_multi_process_run_under_torchrun():
    assert jobs.python_module("training.entry", "c.json") == [
        sys.executable,
        "-m",
        "training.entry",
        "c.json",
    ]
    argv = jobs.python_module("training.entry", "c.json", processes=2)
    assert argv[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=2" in argv
    assert argv[-3:] == ["-m", "training.entry", "c.json"]
