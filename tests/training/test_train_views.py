"""Training pages: engineers only (outsiders 404, other roles 403), launch, preview, progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.models import Job
from training import entry, preview, runs
from training.config import RunConfig
from training.modelload import ModelSource, load_model
from training.models import BaseModel, TrainingRun

from .test_runs import write_snapshot


@pytest.fixture(autouse=True)
def dirs(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.RUNS_DIR = tmp_path / "data" / "runs"
    settings.JOBS_DIR = tmp_path / "data" / "jobs"
    settings.EXPORT_DIR = tmp_path / "data" / "exports"
    settings.MODEL_CACHE_DIR = tmp_path / "models"


@pytest.fixture
def setup(project, people, tiny_model_dir, glaive_records):
    base = BaseModel.objects.create(name="tiny", kind="local", source=str(tiny_model_dir))
    rows = [{"messages": m, "tools": t} for m, t in glaive_records[:6]]
    snapshot = write_snapshot(project, rows, fmt="openai_chat")
    return base, snapshot


@pytest.mark.parametrize(
    ("who", "status"), [("outsider", 404), ("annotator", 403), ("reviewer", 403), ("engineer", 200)]
)
def test_only_engineers_see_the_training_page(client_for, project, who, status):
    response = client_for(who).get(reverse("training:runs", args=[project.slug]))
    assert response.status_code == status


def form(base, snapshot, **extra) -> dict:
    data = {
        "base_model": base.pk,
        "snapshot": snapshot.pk,
        "method": "sft",
        "lora_rank": 8,
        "lora_alpha": 16,
        "epochs": 1,
        "max_steps": 2,
        "batch_size": 2,
        "grad_accum": 1,
        "max_length": 128,
        "precision": "fp32",
        "seed": 3,
        "queue": "default",
    }
    return data | extra


@pytest.mark.django_db(transaction=True)
def test_an_engineer_launches_a_run_from_the_page(client_for, project, setup):
    client = client_for("engineer")
    response = client.post(reverse("training:runs", args=[project.slug]), form(*setup))
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/runs/{run.pk}/")
    assert run.config["lora_rank"] == 8 and run.config["seed"] == 3
    assert run.job.status == Job.Status.QUEUED


def test_a_reviewer_cannot_launch(client_for, project, setup):
    response = client_for("reviewer").post(
        reverse("training:runs", args=[project.slug]), form(*setup)
    )
    assert response.status_code == 403 and not TrainingRun.objects.exists()


def test_the_preview_marks_the_trained_tool_call(client_for, project, setup):
    response = client_for("engineer").get(
        reverse("training:preview", args=[project.slug]),
        form(*setup),
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<mark class="trained">&lt;tool_call&gt;' in html
    assert "Rows longer than 128 tokens" in html


def test_the_run_page_polls_while_running_and_shows_a_failure(client_for, project, people, setup):
    base, snapshot = setup
    run = runs.launch_run(project, people["engineer"], base_model=base, snapshot=snapshot)
    client = client_for("engineer")
    url = reverse("training:run", args=[project.slug, run.pk])
    progress = Path(run.job.workdir) / "progress.jsonl"
    progress.write_text(
        "".join(
            json.dumps({"step": s, "loss": 3.0 - s / 10, "done": s, "total": 9}) + "\n"
            for s in (1, 2, 3)
        )
    )
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.RUNNING, done=3, total=9)
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in partial and "<polyline" in partial
    assert "<html" not in partial
    Job.objects.filter(pk=run.job_id).update(
        status=Job.Status.FAILED,
        error="The job's process exited with code 1: boom",
        log_tail="Traceback\nboom",
    )
    page = client.get(url).content.decode()
    assert "exited with code 1: boom" in page and "Traceback" in page
    assert 'hx-trigger="every 2s"' not in page


def test_the_run_page_says_the_final_evaluation_runs(client_for, project, people, setup):
    # seen: "8/8, Running, ETA –" for ~7 minutes with no word of what it did
    base, snapshot = setup
    run = runs.launch_run(project, people["engineer"], base_model=base, snapshot=snapshot)
    metrics = {"phase": "final_evaluation", "eval_rows": 100, "eta_s": 42.4, "done": 8}
    Job.objects.filter(pk=run.job_id).update(
        status=Job.Status.RUNNING, done=8, total=8, metrics=metrics | {"total": 8}
    )
    client = client_for("engineer")
    url = reverse("training:run", args=[project.slug, run.pk])
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "final evaluation: loss on 100 test rows · about 42 s left" in partial
    Job.objects.filter(pk=run.job_id).update(metrics={"phase": "save", "eta_s": None})
    assert "saving the adapter" in client.get(url, headers={"HX-Request": "true"}).content.decode()


def test_the_run_page_shows_the_four_timing_figures(client_for, project, people, setup):
    base, snapshot = setup
    run = runs.launch_run(project, people["engineer"], base_model=base, snapshot=snapshot)
    result = {"train_seconds": 41.5, "wall_seconds": 73.25, "peak_rss_mb": 912.4}
    result |= {"tokens_per_second": 187.3, "rows": 58, "adapter_path": "/x"}
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.SUCCEEDED, result=result)
    page = client_for("engineer").get(reverse("training:run", args=[project.slug, run.pk]))
    html = page.content.decode()
    assert "<dt>Final train loss</dt>" not in html  # no train_loss in this result
    for label, value in (
        ("Train seconds", "41.5"),
        ("Job wall seconds", "73.25"),
        ("Peak memory (MB)", "912.4"),
        ("Real tokens/s", "187.3"),
    ):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html


def test_the_run_page_names_its_losses_as_the_runs_list_does_and_rounds_the_lr(
    client_for, project, people, setup
):
    base, snapshot = setup
    run = runs.launch_run(project, people["engineer"], base_model=base, snapshot=snapshot)
    result = {"train_loss": 2.4765, "eval_loss": 2.5, "adapter_path": "/x"}
    Job.objects.filter(pk=run.job_id).update(
        status=Job.Status.SUCCEEDED,
        done=9,
        total=9,
        result=result,
        metrics={"step": 9, "loss": 2.172, "lr": 0.00015000000000000001},
    )
    client = client_for("engineer")
    html = client.get(reverse("training:run", args=[project.slug, run.pk])).content.decode()
    assert "<dd>0.00015</dd>" in html and "0.000150000" not in html
    assert "Loss at this step</dt><dd>2.1720</dd>" in html
    assert "Final train loss</dt><dd>2.4765</dd>" in html
    listing = client.get(reverse("training:runs", args=[project.slug])).content.decode()
    assert "Final train loss</th>" in listing and "2.4765" in listing


def test_cancel_from_the_page_stops_a_queued_run(client_for, project, people, setup):
    base, snapshot = setup
    run = runs.launch_run(project, people["engineer"], base_model=base, snapshot=snapshot)
    response = client_for("engineer").post(reverse("training:cancel", args=[project.slug, run.pk]))
    assert response.status_code == 302
    run.job.refresh_from_db()
    assert run.job.status == Job.Status.CANCELLED


def test_outsiders_get_404_for_a_run(client_for, project, people, setup):
    base, snapshot = setup
    run = runs.launch_run(project, people["engineer"], base_model=base, snapshot=snapshot)
    url = reverse("training:run", args=[project.slug, run.pk])
    assert client_for("outsider").get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_admin_add_form_launches_a_run_and_the_action_launches_it_again(
    client_for, project, setup
):
    base, snapshot = setup
    client = client_for("engineer")
    data = {
        "project": project.pk,
        "snapshot": snapshot.pk,
        "base_model": base.pk,
        "method": "sft",
        "config": '{"max_steps": 2}',
        "queue": "default",
    }
    from django.contrib.auth.models import Permission

    from training.models import TrainingRun as Run

    user = project.memberships.get(role="engineer").user
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="trainingrun"))
    response = client.post(reverse("admin:training_trainingrun_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    run = Run.objects.get()
    assert run.config["max_steps"] == 2 and run.job.status == Job.Status.QUEUED
    shown = client.get(reverse("admin:training_trainingrun_change", args=[run.pk]))
    assert "None" not in shown.content.decode().split("field-queue", 1)[1][:300]
    assert '<div class="readonly">default</div>' in shown.content.decode()
    client.post(
        reverse("admin:training_trainingrun_changelist"),
        {"action": "launch_again", "_selected_action": [run.pk]},
    )
    again = Run.objects.exclude(pk=run.pk).get()
    assert again.config == run.config and again.snapshot_id == run.snapshot_id


def test_the_admin_form_refuses_a_bad_hyper_parameter(client_for, project, setup):
    from django.contrib.auth.models import Permission

    base, snapshot = setup
    user = project.memberships.get(role="engineer").user
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="trainingrun"))
    response = client_for("engineer").post(
        reverse("admin:training_trainingrun_add"),
        {
            "project": project.pk,
            "snapshot": snapshot.pk,
            "base_model": base.pk,
            "method": "sft",
            "config": '{"lora_rank": 0}',
            "queue": "default",
        },
    )
    assert response.status_code == 200 and "lora_rank" in response.content.decode()
    assert not TrainingRun.objects.exists()


PREVIEW_CONFIG = {"max_length": 2048, "max_steps": 1}


def child_encoding(run) -> tuple[entry.Encoded, object]:
    """The rows as the child encodes them from the config.json the run was launched with."""
    setup = json.loads(Path(run.job.workdir, runs.CONFIG_NAME).read_text(encoding="utf-8"))
    _, tokenizer = load_model(ModelSource(**setup["model"]), cache_dir=Path(setup["cache_dir"]))
    rows = [
        row
        for f in setup["data"]["train"]
        for row in entry.read_rows(f["path"], sha256=f.get("sha256"))
    ]
    cfg = RunConfig.from_dict(setup["config"])
    return entry.encode_train(tokenizer, setup, cfg, rows), tokenizer


@pytest.mark.parametrize("prompt", ["short", "full"])
def test_the_preview_shows_the_token_ids_and_loss_mask_the_child_trains_on(
    project, people, setup, prompt
):
    """The preview renders what the child will train on, for each prompt setup."""
    base, snapshot = setup
    config = {**PREVIEW_CONFIG, "prompt": prompt}
    shown = preview.preview_run(
        project=project,
        base_model=base,
        snapshot=snapshot,
        config=RunConfig.from_dict(config),
        rows=3,
    )
    run = runs.launch_run(
        project, people["engineer"], base_model=base, snapshot=snapshot, config=config
    )
    child, tokenizer = child_encoding(run)
    assert shown.prompt == prompt
    assert shown.input_ids == child.input_ids[:3]
    assert shown.labels == child.labels[:3]
    text = tokenizer.decode(shown.input_ids[0])
    assert (project.system_prompt in text) == (prompt == "full")
