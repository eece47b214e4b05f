import os

from django.core.management.base import BaseCommand

from curation.demo import setup_demo


class Command(BaseCommand):
    help = "Create the demo people and the live-shop project with generated records (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--rows", type=int, default=1000)
        parser.add_argument("--queue-rows", type=int, default=200)

    def handle(self, *args, seed: int, rows: int, queue_rows: int, **options):
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
