import json
import time

from django.core.management.base import CommandError

from core.errors import CurationError
from curation.exports import create_snapshot
from curation.management.util import JsonCommand, acting_user, project_by_slug
from training import compare, runs
from training.models import BUNDLED_MODEL_NAME, BaseModel

# What `make tune-demo` trains with: the README says why (and what was measured); the replay
# set and its licence are in training/replay/README.md.
DEMO_CONFIG = {
    "epochs": 3.0,
    "learning_rate": 1e-3,
    "replay": 0.1,
    "prompt": "short",
    "lora_dropout": 0.0,
}


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _number(value, unit: str = "") -> str:
    return "–" if value is None else f"{value:,.0f}{unit}"


def figure_lines(result: dict) -> list[str]:
    """The figures that decide whether the tuned model ships, one line per contender."""
    probe = result.get("probe") or {}
    similarity = {
        "base": probe.get("base_rouge_l_to_reference"),
        "tuned": probe.get("tuned_rouge_l_to_reference"),
    }
    lines = []
    for c in result.get("contenders", []):
        sim = similarity.get(c["name"])
        tool_n = f" (n={c['tool_turns']})" if c.get("tool_turns") is not None else ""
        false_calls = ""
        if "false_call_rate" in c:
            false_calls = f"false calls {_pct(c['false_call_rate'])} (n={c.get('no_tool_turns')}), "
        lines.append(
            f"{c['name']:>6}: tool-name accuracy {_pct(c.get('tool_name_accuracy'))}{tool_n}, "
            f"argument exact match {_pct(c.get('argument_exact_match'))}, {false_calls}"
            f"schema-valid {_pct(c.get('schema_valid_rate'))}, "
            f"p50 {_number(c.get('latency_p50_ms'), ' ms')}, "
            f"prompt tokens {_number(c.get('prompt_tokens_mean'))}, "
            f"probe ROUGE-L {'–' if sim is None else round(sim, 3)}"
        )
    base, tuned = similarity["base"], similarity["tuned"]
    if base and tuned is not None:
        lines.append(f"probe similarity tuned/base: {tuned / base:.2f}x (goal ≥ 0.8x)")
    return lines


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
        parser.add_argument("--epochs", type=float, default=DEMO_CONFIG["epochs"])
        parser.add_argument("--learning-rate", type=float, default=DEMO_CONFIG["learning_rate"])
        parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
        parser.add_argument(
            "--replay",
            type=float,
            default=DEMO_CONFIG["replay"],
            help="share of general instruction rows mixed into training (0 = off)",
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="test examples to compare (default: all)"
        )
        parser.add_argument("--max-new-tokens", type=int, default=96)
        parser.add_argument(
            "--dtype",
            choices=compare.DTYPES,
            default="auto",
            help="compare in this precision; auto: bf16 where the CPU computes it natively",
        )
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
                config=DEMO_CONFIG
                | {
                    "epochs": o["epochs"],
                    "learning_rate": o["learning_rate"],
                    "precision": o["precision"],
                    "replay": o["replay"],
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
        for line in figure_lines(result):
            self.stdout.write(line)
        if o["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, default=str))
