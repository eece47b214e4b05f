import json

from django.core.management.base import CommandError

from core.errors import CurationError
from curation.management.util import JsonCommand, acting_user, project_by_slug, wait_for
from training import drafting
from training.models import BaseModel


class Command(JsonCommand):
    help = (
        "Draft answers with a model for the project's records that have no draft yet. Runs "
        "the job here (in a child process) and returns when it is done; --background only "
        "queues it for a db_worker. With --json the last line is one JSON object."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--model", required=True, help="a name from the model registry")
        parser.add_argument("--limit", type=int, help="draft at most N records")
        parser.add_argument("--max-new-tokens", type=int, default=192)
        parser.add_argument("--temperature", type=float, default=0.0)
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--user", help="acting engineer (default: the first superuser)")
        parser.add_argument("--background", action="store_true", help="queue it and return")
        parser.add_argument("--wait", action="store_true", help="queue it and wait for a worker")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        project = project_by_slug(o["project"])
        model = BaseModel.objects.filter(name=o["model"]).first()
        if model is None:
            names = ", ".join(BaseModel.objects.values_list("name", flat=True))
            raise CommandError(f"No model {o['model']!r}. Fix: use one of {names}.")
        try:
            job = drafting.start_drafting(
                project,
                acting_user(o["user"]),
                model=model,
                records=drafting.records_without_draft(project),
                settings_=drafting.DraftSettings(
                    max_new_tokens=o["max_new_tokens"],
                    temperature=o["temperature"],
                    batch_size=o["batch_size"],
                ),
                limit=o["limit"],
            )
        except CurationError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"Drafting job #{job.pk}: {job.total} records with {model.name}.")
        if o["wait"]:
            job = wait_for(job)
        elif not o["background"]:
            from jobs.tasks import run_job

            run_job.call(job.pk)
            job.refresh_from_db()
        summary = {
            "job": job.pk,
            "status": job.status,
            "records": job.total,
            "drafted": job.project.records.filter(drafts__job_id=job.pk).count(),
            "tokens_per_s": job.metrics.get("tokens_per_s"),
            "error": job.error or None,
        }
        if o["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        else:
            self.stdout.write(" ".join(f"{k}={v}" for k, v in summary.items() if v is not None))
        if job.status == "failed" and not o["json"]:
            raise CommandError(job.error)
