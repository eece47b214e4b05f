import json
import time

from django.core.management.base import CommandError

from core.errors import CurationError
from curation.exports import create_snapshot
from curation.management.util import JsonCommand, acting_user, project_by_slug
from training import compare, runs
from training.models import BUNDLED_MODEL_NAME, BaseModel


class Command(JsonCommand):
    help = (
        "Tune and compare in one go: snapshot the project's accepted records, train a LoRA "
        "adapter on the short prompt, then compare base (long prompt) and tuned (short prompt) "
        "on the test split. Runs here, each job in a child process. With --json the last line "
        "is the compare summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default="live-shop")
        parser.add_argument("--base-model", default=BUNDLED_MODEL_NAME)
        parser.add_argument("--epochs", type=float, default=2.0)
        parser.add_argument("--learning-rate", type=float, default=3e-4)
        parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
        parser.add_argument("--limit", type=int, default=40, help="test examples to compare")
        parser.add_argument("--max-new-tokens", type=int, default=96)
        parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
        parser.add_argument("--no-probe", action="store_true")
        parser.add_argument("--user", help="acting engineer (default: the first superuser)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        project = project_by_slug(o["project"])
        actor = acting_user(o["user"])
        base = BaseModel.objects.filter(name=o["base_model"]).first()
        if base is None:
            raise CommandError(f"No base model {o['base_model']!r} in the registry.")
        started = time.monotonic()
        try:
            snapshot = create_snapshot(project, actor, format_name="openai_chat")
            self.stdout.write(f"Snapshot #{snapshot.pk}: {snapshot.counts}.")
            run = runs.launch_run(
                project,
                actor,
                base_model=base,
                snapshot=snapshot,
                method="sft",
                config={
                    "epochs": o["epochs"],
                    "learning_rate": o["learning_rate"],
                    "precision": o["precision"],
                    "prompt": "short",
                },
            )
            self.stdout.write(f"Training run #{run.pk}…")
            job = runs.run_inline(run)
            if job.status != "succeeded":
                raise CommandError(f"Run #{run.pk} {job.status}: {job.error}")
            summary = runs.run_summary(run)
            self.stdout.write(
                f"Trained in {summary['train_seconds']} s, train loss {summary['train_loss']}, "
                f"eval loss {summary['eval_loss']}, {summary['tokens_per_second']} tokens/s."
            )
            comparison = compare.compare_run(
                run,
                actor,
                limit=o["limit"],
                max_new_tokens=o["max_new_tokens"],
                dtype=o["dtype"],
                probe=not o["no_probe"],
                enqueue=False,
            )
            self.stdout.write(f"Comparison #{comparison.pk}…")
            from jobs.tasks import run_job

            run_job.call(comparison.job_id)
            comparison.refresh_from_db()
        except CurationError as e:
            raise CommandError(str(e)) from e
        result = compare.command_summary(comparison)
        result["training"] = summary
        result["total_seconds"] = round(time.monotonic() - started, 1)
        for c in result.get("contenders", []):
            self.stdout.write(
                f"{c['name']:>6}: tool-name accuracy {c.get('tool_name_accuracy')}, argument exact "
                f"match {c.get('argument_exact_match')}, p50 {c.get('latency_p50_ms')} ms, "
                f"prompt tokens {c.get('prompt_tokens_mean')}"
            )
        if o["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, default=str))
