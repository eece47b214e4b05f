import json
import time

from django.core.management.base import CommandError

from core.errors import CurationError
from curation.management.util import JsonCommand
from jobs.models import Job
from training import bfcl, compare
from training.compare_entry import LATENCY_SAMPLE
from training.models import TrainingRun

QUEUED_HINT_AFTER_S = 30


class Command(JsonCommand):
    help = (
        "Compare a training run's tuned model with its base model on the snapshot's test split "
        "and wait for the result. Default contenders: base (long prompt) and tuned (short)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, required=True, help="training run id")
        parser.add_argument(
            "--contender",
            action="append",
            default=[],
            help="base, tuned, or NAME=model:BASEMODEL[,run:ID][,prompt:long|short]; repeatable",
        )
        parser.add_argument("--limit", type=int, help="only the first N test rows")
        parser.add_argument("--max-new-tokens", type=int, default=256)
        parser.add_argument(
            "--batch-size",
            type=int,
            default=compare.BATCH_SIZE,
            help="answers generated at once; latency is measured apart, one request at a time",
        )
        parser.add_argument(
            "--dtype",
            choices=compare.DTYPES,
            default="auto",
            help="the same for every contender; auto: bf16 where the CPU computes it natively",
        )
        parser.add_argument(
            "--latency-sample",
            type=int,
            help=f"examples of each kind timed alone per contender (default {LATENCY_SAMPLE})",
        )
        parser.add_argument(
            "--http-concurrency",
            type=int,
            help="HTTP contenders: requests in flight at once (default 4; 1 for a server that "
            "answers one at a time)",
        )
        parser.add_argument(
            "--http-timeout", type=float, help="HTTP contenders: seconds per request (default 60)"
        )
        parser.add_argument("--no-probe", action="store_true", help="skip the forgetting probe")
        parser.add_argument(
            "--bfcl-probe",
            type=int,
            default=0,
            metavar="N",
            help="also score base and tuned on N cases of a BFCL category by BFCL's rules "
            f"(default 0: off; {compare.BFCL_PROBE_ROWS} is a quick look); needs "
            "pip install --no-deps -r requirements-nodeps.txt",
        )
        parser.add_argument(
            "--bfcl-category",
            choices=list(bfcl.CATEGORIES),
            default="simple",
            help="the BFCL category the probe samples (default simple)",
        )
        parser.add_argument("--queue", default="default")
        parser.add_argument("--json", action="store_true", help="last line: one JSON object")
        parser.add_argument(
            "--inline", action="store_true", help="run the job here instead of in a db_worker"
        )

    def handle(self, *args, **options):
        run = TrainingRun.objects.select_related("project", "snapshot", "base_model").filter(
            pk=options["run"]
        )
        if not run.exists():
            raise CommandError(f"No training run #{options['run']}.")
        try:
            comparison = compare.compare_run(
                run.get(),
                None,
                names=options["contender"] or None,
                limit=options["limit"],
                max_new_tokens=options["max_new_tokens"],
                batch_size=options["batch_size"],
                dtype=options["dtype"],
                latency_sample=options["latency_sample"],
                http={
                    "concurrency": options["http_concurrency"],
                    "timeout_s": options["http_timeout"],
                },
                probe=not options["no_probe"],
                bfcl_probe=options["bfcl_probe"],
                bfcl_category=options["bfcl_category"],
                queue=options["queue"],
                enqueue=not options["inline"],
            )
        except CurationError as e:
            raise CommandError(str(e)) from None
        self.stderr.write(f"Comparison #{comparison.pk}, job #{comparison.job_id}.")
        if options["inline"]:
            compare.run_compare_job(comparison.job)
        else:
            self._wait(comparison.job)
        comparison.refresh_from_db()
        summary = compare.command_summary(comparison)
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        else:
            self._print(summary)
        if summary["status"] != Job.Status.SUCCEEDED:
            raise CommandError(f"The comparison {summary['status']}: {summary['error']}")

    def _wait(self, job: Job) -> None:
        started, done, hinted = time.monotonic(), -1, False
        while True:
            job.refresh_from_db()
            if job.is_finished:
                return
            if job.done != done:
                done = job.done
                self.stderr.write(f"{job.status}: {job.done}/{job.total}")
            if (
                not hinted
                and job.status == Job.Status.QUEUED
                and time.monotonic() - started > QUEUED_HINT_AFTER_S
            ):
                hinted = True
                self.stderr.write(
                    f"Still queued: is `manage.py db_worker --queue-name {job.queue}` running? "
                    "(or use --inline)"
                )
            time.sleep(1)

    def _print(self, summary: dict) -> None:
        for c in summary["contenders"]:
            figures = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in c.items()
                if k != "name" and v is not None
            )
            self.stdout.write(f"{c['name']}: {figures}")
