"""The django-tasks entry point of every job: take its id, call the handler of its kind.

The work itself runs in a child process (`jobs.services.run_child`). Handlers live in the
apps above this layer, which register them in their AppConfig.ready (`register_handler`).
"""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from jobs import services as jobs
from jobs.models import Job

#: kind -> "module.function" that runs a job of that kind (and calls jobs.run_child).
HANDLERS: dict[str, str] = {}


def register_handler(kind: str, handler: str) -> None:
    HANDLERS[kind] = handler


@task()
def run_job(job_id: int) -> str:
    from django.utils.module_loading import import_string

    jobs.sweep(force=True)
    job = Job.objects.get(pk=job_id)
    if job.is_finished:
        return job.status
    handler = HANDLERS.get(job.kind)
    if handler is None:
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED, error=f"No handler for jobs of kind {job.kind!r}."
        )
        return Job.Status.FAILED
    try:
        return import_string(handler)(job).status
    except Exception as e:
        # Preparing the job failed in the worker itself (bad snapshot, missing model...):
        # the job explains itself and the worker goes on.
        Job.objects.filter(pk=job.pk).exclude(status__in=Job.FINISHED).update(
            status=Job.Status.FAILED, error=f"{type(e).__name__}: {e}", finished_at=timezone.now()
        )
        raise
