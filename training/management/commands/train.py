import json
import time

from django.core.management.base import CommandError

from core.errors import CurationError
from curation.management.util import JsonCommand, acting_user
from curation.models import ExportSnapshot, Project, Record
from training import runs
from training.models import BaseModel


class Command(JsonCommand):
    help = (
        "Launch a LoRA training run. Without --snapshot it takes a fresh snapshot of the "
        "project's records with --status. --wait waits for a db_worker; --inline runs the job "
        "in this process. With --json the last line is one JSON object."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--base-model", required=True)
        parser.add_argument("--snapshot", type=int)
        parser.add_argument("--method", choices=["sft", "dpo"], default="sft")
        steps = parser.add_mutually_exclusive_group()
        steps.add_argument("--max-steps", type=int)
        steps.add_argument("--epochs", type=float)
        for name, kind in (
            ("--lora-rank", int),
            ("--lora-alpha", int),
            ("--learning-rate", float),
            ("--batch-size", int),
            ("--grad-accum", int),
            ("--max-length", int),
            ("--seed", int),
            ("--replay", float),
        ):
            parser.add_argument(name, type=kind)
        parser.add_argument(
            "--processes",
            type=int,
            help="train with N processes under torchrun: one per GPU, else N CPU processes",
        )
        parser.add_argument("--precision", choices=["auto", "fp32", "bf16"])
        parser.add_argument(
            "--status", action="append", choices=Record.Status.values, help="repeatable"
        )
        parser.add_argument("--queue", default="default", help="default, cpu or gpu")
        parser.add_argument("--user", help="acting engineer (default: the first superuser)")
        parser.add_argument("--wait", action="store_true", help="wait for a db_worker to finish it")
        parser.add_argument("--inline", action="store_true", help="run it in this process")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        project = Project.objects.filter(slug=o["project"]).first()
        if project is None:
            raise CommandError(f"No project {o['project']!r}. Fix: give an existing slug.")
        base = BaseModel.objects.filter(name=o["base_model"]).first()
        if base is None:
            names = ", ".join(BaseModel.objects.values_list("name", flat=True))
            raise CommandError(f"No base model {o['base_model']!r}. Fix: use one of {names}.")
        actor = acting_user(o["user"])
        keys = ("max_steps", "epochs", "lora_rank", "lora_alpha", "learning_rate")
        keys += ("batch_size", "grad_accum", "max_length", "precision", "seed", "replay")
        keys += ("processes",)
        config = {k: o[k] for k in keys if o[k] is not None}
        try:
            if o["snapshot"]:
                snapshot = ExportSnapshot.objects.get(pk=o["snapshot"], project=project)
            else:
                snapshot = runs.take_snapshot(
                    project, actor, method=o["method"], statuses=o["status"]
                )
            run = runs.launch_run(
                project,
                actor,
                base_model=base,
                snapshot=snapshot,
                method=o["method"],
                config=config,
                queue=o["queue"],
            )
        except ExportSnapshot.DoesNotExist as e:
            raise CommandError(f"No snapshot #{o['snapshot']} in this project.") from e
        except CurationError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"Run #{run.pk} on snapshot #{snapshot.pk}, job #{run.job_id}.")
        if o["inline"]:
            runs.run_inline(run)
        elif o["wait"]:
            self.stdout.write("Waiting for a db_worker on queue " + repr(o["queue"]) + "…")
            while True:
                run.job.refresh_from_db()
                if run.job.is_finished:
                    break
                time.sleep(2)
        run.refresh_from_db()
        summary = runs.run_summary(run)
        if o["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        else:
            self.stdout.write(" ".join(f"{k}={v}" for k, v in summary.items() if v is not None))
        if summary["status"] == "failed" and not o["json"]:
            raise CommandError(summary["error"] or "The run failed.")
