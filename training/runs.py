"""Training runs: launch (check, then do), run in the worker's child process, cancel, read.

A run is a TrainingRun row plus a Job of kind "train". `launch_run` writes the child's
config.json into the job's work directory and queues the job on a queue per host class
("default"/"cpu" for CPU hosts, "gpu" for GPU hosts: start `manage.py db_worker
--queue-name gpu` there). The worker's task calls `run_training_job`, which starts
`python -m training.entry <workdir>/config.json` through jobs.run_child, under `torchrun`
with one rank per process when the run's config asks for `processes` > 1.

Orphans: a worker that dies mid-run leaves its job "running" without heartbeats; it reads
failed everywhere after 30 s (jobs.job_state) and a worker's sweep marks the row. No resume
from a checkpoint: a small LoRA run is cheap to launch again, and "launch again" reuses the
same snapshot and hyper-parameters.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotAllowed
from curation.models import AuditEvent, ExportSnapshot, Project, Record, Role
from jobs import services as jobs
from jobs.models import Job
from training.config import ConfigError, RunConfig
from training.models import BaseModel, TrainingRun
from training.prompt_setups import prompt_spec

CONFIG_NAME = "config.json"
HISTORY_POINTS = 300


def _check_engineer(project: Project, actor) -> None:
    if actor is None or not project.has_role(actor, Role.ENGINEER):
        raise NotAllowed(
            _("Only engineers of this project can launch or stop training runs."),
            hint=_("ask a project engineer to give you the engineer role"),
        )


def parse_config(method: str, config: dict | None) -> RunConfig:
    try:
        return RunConfig.from_dict({**(config or {}), "method": method})
    except ConfigError as exc:
        raise InvalidInput(exc.message, hint=exc.hint, where=exc.field) from exc


def snapshot_files(snapshot: ExportSnapshot, split: str) -> list[dict]:
    """The snapshot's files of one split as {"path" (absolute), "sha256", "rows"}."""
    out = []
    for item in snapshot.files or []:
        if item.get("split") != split:
            continue
        path = Path(item["path"])
        if not path.is_absolute():
            inside = settings.DATA_DIR / snapshot.directory / path
            path = inside if inside.exists() else settings.DATA_DIR / path
        out.append({"path": str(path), "sha256": item.get("sha256"), "rows": item.get("rows")})
    return out


def model_source(base_model: BaseModel) -> dict:
    """The base model's ModelSource as the child's JSON."""
    return asdict(base_model.model_source())


def output_dir(run: TrainingRun) -> Path:
    return settings.RUNS_DIR / f"run-{run.pk}"


def prompt_setup(project: Project, config: dict) -> dict:
    """The prompt setup (PromptSpec fields) a run with `config` trains with."""
    return prompt_spec(project, config.get("prompt") or "short")


def child_config(run: TrainingRun) -> dict:
    """Everything the child needs, with no database: see training.entry's docstring."""
    project = run.project
    return {
        "config": run.config,
        "model": model_source(run.base_model),
        "cache_dir": str(settings.MODEL_CACHE_DIR),
        "prompt": prompt_setup(project, run.config),
        "data": {
            "train": snapshot_files(run.snapshot, "train"),
            "test": snapshot_files(run.snapshot, "test"),
        },
        "output_dir": str(output_dir(run)),
        "run": {
            "id": run.pk,
            "project": project.slug,
            "snapshot": run.snapshot_id,
            "snapshot_format": run.snapshot.format,
            "base_model": run.base_model.name,
            "method": run.method,
        },
    }


@transaction.atomic
def launch_run(
    project: Project,
    actor,
    *,
    base_model: BaseModel,
    snapshot: ExportSnapshot,
    method: str = TrainingRun.Method.SFT,
    config: dict | None = None,
    queue: str = "default",
) -> TrainingRun:
    """Check, create the run and its job, write config.json, queue it (after commit)."""
    _check_engineer(project, actor)
    if snapshot.project_id != project.pk:
        raise InvalidInput(
            _("Snapshot #%(id)s belongs to another project.") % {"id": snapshot.pk},
            hint=_("pick a snapshot of this project"),
            where="snapshot",
        )
    if not base_model.is_local:
        raise InvalidInput(
            _("%(name)s is an HTTP endpoint; only local models can be fine-tuned.")
            % {"name": base_model.name},
            hint=_("pick a bundled, local or hub model"),
            where="base_model",
        )
    if method not in TrainingRun.Method.values:
        raise InvalidInput(
            _("%(method)r is not a training method.") % {"method": method},
            hint=_("use sft or dpo"),
            where="method",
        )
    cfg = parse_config(method, config)
    if not snapshot_files(snapshot, "train"):
        raise InvalidInput(
            _("Snapshot #%(id)s has no train split.") % {"id": snapshot.pk},
            hint=_("export a snapshot with train rows"),
            where="snapshot",
        )
    job = jobs.create_job(Job.Kind.TRAIN, project=project, actor=actor, params={}, queue=queue)
    run = TrainingRun.objects.create(
        project=project,
        snapshot=snapshot,
        base_model=base_model,
        method=method,
        config=cfg.to_dict(),
        job=job,
        created_by=actor,
    )
    job.params = {"run": run.pk}
    job.save(update_fields=["params"])
    write_child_config(run)
    AuditEvent.objects.create(
        actor=actor,
        project=project,
        action="training.launch",
        target=f"run {run.pk}",
        data={"snapshot": snapshot.pk, "base_model": base_model.name, "method": method},
    )
    jobs.enqueue(job)
    return run


def write_child_config(run: TrainingRun) -> Path:
    path = Path(run.job.workdir) / CONFIG_NAME
    path.write_text(json.dumps(child_config(run), indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def launch_again(run: TrainingRun, actor, *, queue: str | None = None) -> TrainingRun:
    """A new run with the same snapshot, base model, method and hyper-parameters."""
    return launch_run(
        run.project,
        actor,
        base_model=run.base_model,
        snapshot=run.snapshot,
        method=run.method,
        config=run.config,
        queue=queue or (run.job.queue if run.job else "default"),
    )


def launch_from_manifest(project: Project, actor, manifest: dict | str | Path) -> TrainingRun:
    """Reproduce a run from its manifest.json: same snapshot files, model, seed and settings.

    The manifest records the precision actually used, so a run launched with "auto" repeats
    with what auto picked then.
    """
    if not isinstance(manifest, dict):
        manifest = json.loads(Path(manifest).read_text(encoding="utf-8"))
    meta = manifest.get("run") or {}
    snapshot = ExportSnapshot.objects.filter(pk=meta.get("snapshot"), project=project).first()
    base_model = BaseModel.objects.filter(name=meta.get("base_model")).first()
    if snapshot is None or base_model is None:
        raise InvalidInput(
            _("The manifest's snapshot or base model is not in this project any more."),
            hint=_("restore the snapshot and register the base model, then try again"),
            where="manifest",
        )
    recorded = sorted(f.get("sha256") or "" for f in manifest["data"]["train"])
    current = sorted(f.get("sha256") or "" for f in snapshot_files(snapshot, "train"))
    if recorded != current:
        raise InvalidInput(
            _("The snapshot's files differ from the ones the manifest recorded."),
            hint=_("the snapshot was changed on disk; export a new one and launch from it"),
            where="manifest",
        )
    return launch_run(
        project,
        actor,
        base_model=base_model,
        snapshot=snapshot,
        method=manifest["config"]["method"],
        config={k: v for k, v in manifest["config"].items() if k != "method"},
    )


def run_training_job(job: Job) -> Job:
    """The worker's handler for jobs of kind "train" (jobs.tasks.HANDLERS)."""
    run = TrainingRun.objects.select_related("project", "snapshot", "base_model").get(job=job)
    config_path = Path(job.workdir) / CONFIG_NAME
    if not config_path.exists():
        write_child_config(run)
    processes = int(run.config.get("processes") or 1)
    argv = jobs.python_module("training.entry", str(config_path), processes=processes)
    job = jobs.run_child(job, argv)
    out = output_dir(run)
    if (Path(job.workdir) / "job.log").exists() and out.exists():
        shutil.copyfile(Path(job.workdir) / "job.log", out / "train.log")
    if job.status == Job.Status.SUCCEEDED and job.result.get("adapter_path"):
        run.adapter_path = job.result["adapter_path"]
        run.save(update_fields=["adapter_path"])
    return job


def run_inline(run: TrainingRun) -> Job:
    """Run a queued run's job in this process (its child still a child process): scripts."""
    from jobs.tasks import run_job

    run_job.call(run.job_id)
    run.refresh_from_db()
    run.job.refresh_from_db()
    return run.job


def cancel_run(run: TrainingRun, actor) -> Job:
    _check_engineer(run.project, actor)
    job = jobs.request_cancel(run.job)
    AuditEvent.objects.create(
        actor=actor, project=run.project, action="training.cancel", target=f"run {run.pk}"
    )
    return job


def loss_history(run: TrainingRun, *, points: int = HISTORY_POINTS) -> dict[str, list]:
    """{"loss": [(step, value)], "eval_loss": [...]} from the child's progress file."""
    path = Path(run.job.workdir) / "progress.jsonl" if run.job else None
    items, _ = jobs.read_new_lines(path, 0) if path else ([], 0)
    loss = [(i["step"], i["loss"]) for i in items if "loss" in i and "step" in i]
    eval_loss = [(i["step"], i["eval_loss"]) for i in items if i.get("eval_loss") is not None]
    if len(loss) > points:
        stride = len(loss) / points
        loss = [loss[int(k * stride)] for k in range(points)] + [loss[-1]]
    return {"loss": loss, "eval_loss": eval_loss}


def run_summary(run: TrainingRun) -> dict:
    """The --json contract of `manage.py train`: one flat object."""
    job = run.job
    result = job.result if job else {}
    return {
        "run": run.pk,
        "status": job.status if job else None,
        "train_loss": result.get("train_loss"),
        "eval_loss": result.get("eval_loss"),
        "train_seconds": result.get("train_seconds"),
        "wall_seconds": result.get("wall_seconds"),
        "peak_rss_mb": result.get("peak_rss_mb"),
        "tokens_per_second": result.get("tokens_per_second"),
        "rows_per_second": result.get("rows_per_second"),
        "rows": result.get("rows"),
        "adapter_path": result.get("adapter_path") or run.adapter_path or None,
        "real_token_share": result.get("real_token_share"),
        "precision": result.get("precision"),
        "error": (job.error or None) if job else None,
    }


def take_snapshot(
    project: Project,
    actor,
    *,
    method: str = TrainingRun.Method.SFT,
    statuses: list[str] | None = None,
    test_ratio: float = 0.1,
    seed: int = 0,
) -> ExportSnapshot:
    """A fresh snapshot for a run: OpenAI chat rows for SFT, TRL preference rows for DPO."""
    from curation import exports

    fmt = "trl_preference" if method == TrainingRun.Method.DPO else "openai_chat"
    return exports.create_snapshot(
        project,
        actor,
        format_name=fmt,
        status=statuses or [Record.Status.ACCEPTED],
        test_ratio=test_ratio,
        seed=seed,
    )


def phase_text(job) -> str:
    """What a running training job is doing, in words (its child names the phase)."""
    if job is None or job.is_finished:
        return ""
    figures = job.metrics or {}
    phase = figures.get("phase", "")
    if phase in ("evaluate", "final_evaluation"):
        label = _("evaluating") if phase == "evaluate" else _("final evaluation")
        return _("%(phase)s: loss on %(n)s test rows") % {
            "phase": label,
            "n": figures.get("eval_rows", "–"),
        }
    return {
        "train": _("training"),
        "save": _("saving the adapter"),
    }.get(phase, "")
