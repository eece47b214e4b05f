"""Drafting: a model answers records in the background so annotators only correct.

`start_drafting` (engineers only) picks the records and queues a Job of kind "draft". The
worker's task calls `run_draft_job`, which writes the job file and starts
`python -m training.draft_entry` as a child. Each answer the child streams back becomes a
Draft beside its record; the record itself is never touched, so a human correction never
overwrites a draft and a draft never overwrites a correction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotAllowed
from curation import record_content
from curation.models import AuditEvent, Draft, Project, Record, Role
from jobs import services as jobs
from jobs.models import Job
from training.models import BaseModel
from training.prompt_setups import prompt_spec

JOB_FILE = "draft-job.json"
OUTPUTS = "outputs.jsonl"
MAX_RECORDS = 50_000


@dataclass
class DraftSettings:
    max_new_tokens: int = 192
    temperature: float = 0.0
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= 4096:
            raise InvalidInput(_("Max tokens must be between 1 and 4096."), where="max_new_tokens")
        if not 0 <= self.temperature <= 2:
            raise InvalidInput(_("Temperature must be between 0 and 2."), where="temperature")
        if not 1 <= self.batch_size <= 64:
            raise InvalidInput(_("Batch size must be between 1 and 64."), where="batch_size")


def records_without_draft(project: Project) -> QuerySet[Record]:
    return project.records.filter(~Exists(Draft.objects.filter(record=OuterRef("pk"))))


def start_drafting(
    project: Project,
    actor,
    *,
    model: BaseModel,
    records: QuerySet[Record],
    settings_: DraftSettings | None = None,
    limit: int | None = None,
    queue: str = "default",
) -> Job:
    if not project.has_role(actor, Role.ENGINEER):
        raise NotAllowed(_("Only engineers of this project can start drafting."))
    records = records.filter(project=project).order_by("id")
    if limit:
        records = records[:limit]
    ids = list(records.values_list("id", flat=True)[: MAX_RECORDS + 1])
    if not ids:
        raise InvalidInput(
            _("No records match, so there is nothing to draft."),
            hint=_("choose other records, or 'all without a draft'"),
        )
    if len(ids) > MAX_RECORDS:
        raise InvalidInput(
            _("A drafting job takes at most %(n)s records.") % {"n": MAX_RECORDS},
            hint=_("filter the records, or start several jobs"),
        )
    settings_ = settings_ or DraftSettings()
    job = jobs.create_job(
        Job.Kind.DRAFT,
        project=project,
        actor=actor,
        params={"model": model.name, "record_ids": ids, "settings": settings_.__dict__},
        total=len(ids),
        queue=queue,
    )
    AuditEvent.objects.create(
        actor=actor,
        project=project,
        action="draft",
        target=f"job {job.pk}",
        data={"model": model.name, "records": len(ids)},
    )
    return jobs.enqueue(job)


def job_file(job: Job) -> dict:
    """Everything the child needs, with no database."""
    from training.runs import model_source

    project = job.project
    model = BaseModel.objects.get(name=job.params["model"])
    records = Record.objects.filter(pk__in=job.params["record_ids"]).order_by("id")
    return {
        "model": model_source(model),
        "endpoint": model.endpoint() if model.kind == BaseModel.Kind.HTTP else None,
        "model_name": model.name,
        "cache_dir": str(settings.MODEL_CACHE_DIR),
        "prompt": prompt_spec(project, "full"),
        "settings": job.params["settings"],
        "records": [
            {
                "id": r.pk,
                "messages": record_content.chat_messages(r, with_answer=False),
                "tools": r.tools,
            }
            for r in records.iterator(chunk_size=1000)
        ],
        "output_dir": job.workdir,
    }


def run_draft_job(job: Job) -> Job:
    path = Path(job.workdir) / JOB_FILE
    path.write_text(json.dumps(job_file(job), ensure_ascii=False))
    ingest = DraftIngest()
    return jobs.run_child(job, jobs.python_module("training.draft_entry", str(path)), ingest=ingest)


class DraftIngest:
    """Turns the lines the child appends to outputs.jsonl into Draft rows, as they come."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self, job: Job) -> None:
        items, self.offset = jobs.read_new_lines(Path(job.workdir) / OUTPUTS, self.offset)
        if not items:
            return
        model, draft_settings = job.params["model"], job.params["settings"]
        Draft.objects.bulk_create(
            [
                draft_from_output(item, model=model, settings=draft_settings, job_id=job.pk)
                for item in items
            ]
        )


def draft_from_output(item: dict, *, model: str, settings: dict, job_id: int) -> Draft:
    parsed = item.get("parsed") or {}
    kind = parsed.get("kind") or Draft.ParseStatus.TEXT
    return Draft(
        record_id=item["id"],
        model_name=model,
        prompt=item.get("prompt", ""),
        settings=settings,
        text=(item.get("text") or "").replace("\x00", ""),
        parse_status=kind,
        tool_calls=parsed.get("tool_calls") or None,
        problems=parsed.get("problems") or [],
        latency_ms=item.get("latency_ms"),
        prompt_tokens=item.get("prompt_tokens"),
        completion_tokens=item.get("completion_tokens"),
        job_id=job_id,
    )
