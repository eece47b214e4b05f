import os

from django.core.management.base import BaseCommand

from curation.demo import setup_demo


class Command(BaseCommand):
    help = "Create the demo people and the live-shop project with generated records (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--rows", type=int, default=1000)
        parser.add_argument("--queue-rows", type=int, default=200)
        parser.add_argument(
            "--no-drafts", action="store_true", help="do not queue the bundled model's drafts"
        )

    def handle(self, *args, seed: int, rows: int, queue_rows: int, no_drafts: bool, **options):
        # A local demo: one known password, overridable, printed so nobody has to look it up.
        password = os.environ.get("TUNEDESK_DEMO_PASSWORD", "tunedesk-demo")
        result = setup_demo(password=password, seed=seed, rows=rows, queue_rows=queue_rows)
        self.stdout.write(
            f"Demo project {result.project.slug!r}: {result.project.records.count()} records "
            f"({result.created_records} added now)."
        )
        self.stdout.write(
            f"Users: {', '.join(result.users)} — password {password!r} "
            "(set TUNEDESK_DEMO_PASSWORD to change it before the first run)."
        )
        if not no_drafts:
            self.queue_drafts(result.project)

    def queue_drafts(self, project) -> None:
        """The work queue gets model drafts from the bundled model, once, in the background."""
        from django.contrib.auth import get_user_model

        from jobs.models import Job
        from training import drafting
        from training.models import BUNDLED_MODEL_NAME, BaseModel

        if project.jobs.filter(kind=Job.Kind.DRAFT).exists():
            return
        todo = drafting.records_without_draft(project).filter(status="new")
        if not todo.exists():
            return
        job = drafting.start_drafting(
            project,
            get_user_model().objects.get(username="engineer"),
            model=BaseModel.objects.get(name=BUNDLED_MODEL_NAME),
            records=todo,
        )
        self.stdout.write(
            f"Queued drafting job #{job.pk}: the bundled model drafts {job.total} records in "
            "the background (watch it on the project's Drafting page)."
        )
