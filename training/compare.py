"""Tune-and-compare services: contenders, the comparison job, blind A/B judgements, failures
back to the annotation queue, and the report's tables, charts and exports.

The generation and scoring happen in the child (`training.compare_entry`); this module
prepares its config, turns its files into the Comparison row and reads them for the pages.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import InvalidInput, NotAllowed, NotFound
from curation import record_content
from curation.models import AuditEvent, Draft, ExportSnapshot, Project, Record, Role, Tag
from curation.record_content import answer_text
from jobs import services as jobs
from jobs.models import Job
from training import bfcl, metrics
from training.compare_entry import LATENCY_SAMPLE
from training.models import BaseModel, Comparison, Judgement, TrainingRun
from training.prompt_setups import prompt_spec

FEW_SHOT = 3
DEFAULT_NAMES = ("base", "tuned")
#: Answers in flight at once (where batching pays on this CPU: see benchmarks/generation.py);
#: latency is measured apart, one request at a time.
BATCH_SIZE = 16
DTYPES = ("auto", "float32", "bfloat16")
#: BFCL probe rows the launch form's toggle asks for: enough to see general tool calling
#: collapse (a 95% interval of about ±20 points), few enough to add little to a comparison.
BFCL_PROBE_ROWS = 20
#: A BFCL simple call is under 70 tokens; a longer answer is wrong anyway.
BFCL_MAX_NEW_TOKENS = 128
CSV_FIELDS = (
    "example",
    "row",
    "turn",
    "kind",
    "reference_label",
    "contender",
    "label",
    "tool_name_correct",
    "arguments_exact",
    "errors",
    "exact",
    "chrf",
    "rouge_l",
    "latency_ms",
    "first_token_ms",
    "prompt_tokens",
    "completion_tokens",
    "parse",
    "reference",
    "output",
)


def failure_tag(comparison: Comparison) -> str:
    return f"compare-failure:{comparison.pk}"


# --- snapshots and prompts -------------------------------------------------------------------


def split_files(snapshot: ExportSnapshot, split: str) -> list[Path]:
    return [
        Path(settings.DATA_DIR) / f["path"] for f in snapshot.files or [] if f["split"] == split
    ]


def split_rows(snapshot: ExportSnapshot, split: str) -> list[dict]:
    from training.compare_entry import read_rows

    return [row for path in split_files(snapshot, split) for row in read_rows(path)]


def few_shot_examples(snapshot: ExportSnapshot, *, k: int = FEW_SHOT) -> list[list[dict]]:
    """Up to k short train conversations, each with a different answer tool where possible."""
    from training.compare_entry import row_messages

    candidates = []
    for row in split_rows(snapshot, "train"):
        prompt, _, chosen = row_messages(row)
        messages = [m for m in prompt + chosen if m.get("role") != "system"]
        label = _first_tool(messages)
        candidates.append((len(json.dumps(messages, ensure_ascii=False)), label, messages))
    candidates.sort(key=lambda c: c[0])
    chosen, labels = [], set()
    for _size, label, messages in candidates:  # shortest of each tool first
        if label not in labels:
            chosen.append(messages)
            labels.add(label)
        if len(chosen) == k:
            return chosen
    rest = [m for _s, _l, m in candidates if m not in chosen]
    return chosen + rest[: k - len(chosen)]


def _first_tool(messages: list[dict]) -> str:
    for m in messages:
        for call in m.get("tool_calls") or []:
            return call.get("function", call).get("name", "")
    return ""


def long_prompt(project: Project, snapshot: ExportSnapshot) -> dict:
    """What an untuned model needs: instructions, every tool schema and a few examples."""
    return prompt_spec(project, "long", few_shot=few_shot_examples(snapshot))


def trained_prompt(run: TrainingRun) -> dict:
    """The prompt the run trained with, from its manifest next to the adapter.

    Without a manifest it is the bare prompt: the record's own messages and tools only.
    """
    manifest = Path(run.adapter_path).parent / "manifest.json" if run.adapter_path else None
    if manifest and manifest.is_file():
        prompt = json.loads(manifest.read_text(encoding="utf-8")).get("prompt")
        if isinstance(prompt, dict):
            return prompt
    return dict(run.config.get("prompt") or {}) if isinstance(run.config, dict) else {}


# --- contenders ------------------------------------------------------------------------------


def contender(
    name: str,
    *,
    base_model: BaseModel,
    prompt: dict,
    adapter: str = "",
    run: TrainingRun | None = None,
    prompt_label: str = "",
) -> dict:
    """What the child needs of one contender: a local model (and adapter), or an
    OpenAI-compatible endpoint (`endpoint`, with its per-token prices), and its prompt."""
    common = {"name": name, "base_model": base_model.name, "prompt": prompt}
    common["prompt_label"] = prompt_label
    if not base_model.is_local:
        if adapter:
            raise InvalidInput(
                f"{base_model.name} is an HTTP endpoint: it answers as it is served, with no "
                "adapter of ours.",
                where=f"contender {name}",
                hint="drop run:ID, or serve the run and register its endpoint (Tunedesk's own "
                "/v1 serves it as run-<id>)",
            )
        if not (base_model.base_url and base_model.api_model):
            raise InvalidInput(
                f"The HTTP model {base_model.name} has no base URL or model name.",
                where=f"contender {name}",
                hint="complete it in the model registry (admin: base models)",
            )
        prices = {
            "prompt_per_1k": base_model.price_per_1k_prompt_tokens,
            "completion_per_1k": base_model.price_per_1k_completion_tokens,
        }
        return common | {
            "model": None,
            "adapter": "",
            "run": None,
            "endpoint": base_model.endpoint(),
            "prices": prices,
        }
    return common | {
        "model": asdict(base_model.model_source()),
        "adapter": adapter,
        "run": run.pk if run else None,
    }


def default_contenders(run: TrainingRun) -> list[dict]:
    """`base`: the base model with the long prompt; `tuned`: the adapter with its short one."""
    if not run.adapter_path or not Path(run.adapter_path).is_dir():
        raise InvalidInput(
            f"Training run #{run.pk} has no adapter on disk.",
            hint="compare a run that succeeded; its adapter directory must exist",
        )
    return [
        contender(
            "base",
            base_model=run.base_model,
            prompt=long_prompt(run.project, run.snapshot),
            prompt_label="long",
        ),
        contender(
            "tuned",
            base_model=run.base_model,
            adapter=run.adapter_path,
            run=run,
            prompt=trained_prompt(run),
            prompt_label="short",
        ),
    ]


def parse_contender(text: str, run: TrainingRun) -> dict:
    """`base` / `tuned`, or `NAME=model:BASEMODEL[,run:ID][,prompt:long|short]`; BASEMODEL
    may be an HTTP endpoint of the registry (no run: it answers as served)."""
    if text in DEFAULT_NAMES:
        return next(c for c in default_contenders(run) if c["name"] == text)
    name, sep, spec = text.partition("=")
    parts = dict(p.split(":", 1) for p in spec.split(",") if ":" in p) if sep else {}
    if not name or "model" not in parts:
        raise InvalidInput(
            f"Contender {text!r} is not understood.",
            hint="give base, tuned or NAME=model:BASEMODEL[,run:ID][,prompt:long|short]",
        )
    base_model = BaseModel.objects.filter(name=parts["model"]).first()
    if base_model is None:
        raise NotFound(
            f"No base model named {parts['model']!r}.",
            where=f"contender {name}",
            hint="register it first (admin: base models; an OpenAI-compatible server is kind "
            "http), or use one of: " + ", ".join(BaseModel.objects.values_list("name", flat=True)),
        )
    adapter_run = None
    if "run" in parts:
        adapter_run = TrainingRun.objects.filter(pk=parts["run"], project=run.project).first()
        if adapter_run is None or not adapter_run.adapter_path:
            raise InvalidInput(f"Run {parts['run']} has no adapter.", where=f"contender {name}")
    prompt = parts.get("prompt", "short" if adapter_run else "long")
    if prompt not in ("long", "short"):
        raise InvalidInput(
            f"Contender {name}: prompt:{prompt} is not a prompt setup.",
            where=f"contender {name}",
            hint="use prompt:long (instructions, tools, examples) or prompt:short",
        )
    short = prompt == "short"
    return contender(
        name,
        base_model=base_model,
        adapter=adapter_run.adapter_path if adapter_run else "",
        run=adapter_run,
        prompt=trained_prompt(adapter_run or run)
        if short
        else long_prompt(run.project, run.snapshot),
        prompt_label="short" if short else "long",
    )


# --- launching and running -------------------------------------------------------------------


@transaction.atomic
def create_comparison(
    project: Project,
    actor,
    *,
    snapshot: ExportSnapshot,
    contenders: list[dict],
    run: TrainingRun | None = None,
    limit: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = BATCH_SIZE,
    dtype: str = "auto",
    probe: bool = True,
    bfcl_probe: int = 0,
    bfcl_category: str = "simple",
    latency_sample: int | None = None,
    http: dict | None = None,
    queue: str = "default",
    enqueue: bool = True,
) -> Comparison:
    """Queue a comparison job. `actor` None is a trusted caller (a management command).

    `bfcl_probe`: that many cases of BFCL's `bfcl_category` asked of base and tuned (0: none);
    it needs BFCL's data installed (training/bfcl.py)."""
    if actor is not None and not project.has_role(actor, Role.ENGINEER):
        raise NotAllowed("Only engineers can launch comparisons.")
    if snapshot.project_id != project.pk:
        raise InvalidInput("The snapshot belongs to another project.", where="snapshot")
    names = [c["name"] for c in contenders]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InvalidInput(
            f"A comparison needs two or more contenders with distinct names, got {names}.",
            hint="e.g. base and tuned",
        )
    missing = [str(p) for p in split_files(snapshot, "test") if not p.is_file()]
    if not split_files(snapshot, "test") or missing:
        where = f" at {missing[0]}" if missing else ""
        raise InvalidInput(
            f"Snapshot #{snapshot.pk} has no test split file{where}.",
            hint="export a snapshot with a test ratio above 0",
        )
    if limit is not None and limit < 1:
        raise InvalidInput("The limit must be 1 or more rows.", where="limit")
    if dtype not in DTYPES:
        raise InvalidInput(
            f"{dtype!r} is not a precision for comparisons.",
            where="dtype",
            hint=f"use one of {', '.join(DTYPES)}",
        )
    settings_ = {"limit": limit, "max_new_tokens": max_new_tokens, "batch_size": batch_size}
    settings_["dtype"] = dtype
    if latency_sample is not None:
        settings_["latency_sample"] = latency_sample
    if http:  # HTTP contenders: compare_http's concurrency and timeout_s
        settings_["http"] = {k: v for k, v in http.items() if v is not None}
    settings_["probe"] = bool(probe and set(DEFAULT_NAMES) <= set(names))
    if bfcl_probe:
        check_bfcl_probe(bfcl_probe, bfcl_category, contenders)
        settings_ |= {"bfcl_probe": bfcl_probe, "bfcl_category": bfcl_category}
    job = jobs.create_job("compare", project=project, actor=actor, params=settings_, queue=queue)
    comparison = Comparison.objects.create(
        project=project,
        run=run,
        snapshot=snapshot,
        contenders=contenders,
        job=job,
        created_by=actor,
    )
    AuditEvent.objects.create(
        actor=actor,
        project=project,
        action="compare.launch",
        target=f"comparison #{comparison.pk}",
        data={"contenders": names, "run": run.pk if run else None, **settings_},
    )
    if enqueue:
        jobs.enqueue(job)
    return comparison


def check_bfcl_probe(rows: int, category: str, contenders: list[dict]) -> None:
    names = [c["name"] for c in contenders]
    if rows < 0:
        raise InvalidInput("The BFCL probe needs 0 (none) or more rows.", where="bfcl_probe")
    if category not in bfcl.CATEGORIES:
        raise InvalidInput(
            f"{category!r} is not a BFCL category.",
            where="bfcl_category",
            hint=f"use one of {', '.join(bfcl.CATEGORIES)}",
        )
    if not set(DEFAULT_NAMES) <= set(names):
        raise InvalidInput(
            f"The BFCL probe asks the contenders base and tuned; this comparison has {names}.",
            where="bfcl_probe",
            hint="include base and tuned, or leave the BFCL probe off",
        )
    served = [c["name"] for c in contenders if c["name"] in DEFAULT_NAMES and c.get("endpoint")]
    if served:
        raise InvalidInput(
            f"The BFCL probe runs local models only; {', '.join(served)} is an HTTP endpoint.",
            where="bfcl_probe",
            hint="leave the BFCL probe off for this comparison",
        )
    try:
        bfcl.data_dir()
    except bfcl.BfclUnavailable:
        raise InvalidInput(
            "The BFCL probe needs BFCL's data (the bfcl-eval package), which is not installed.",
            where="bfcl_probe",
            hint="pip install --no-deps -r requirements-nodeps.txt (its data files only, "
            "without its heavy dependencies), or leave the BFCL probe off",
        ) from None


def compare_run(
    run: TrainingRun, actor, *, names: list[str] | None = None, **options
) -> Comparison:
    """The default comparison of a finished run (or the named contenders)."""
    contenders = [parse_contender(n, run) for n in names] if names else default_contenders(run)
    return create_comparison(
        run.project, actor, snapshot=run.snapshot, contenders=contenders, run=run, **options
    )


def child_config(comparison: Comparison) -> dict:
    params = comparison.job.params
    return {
        "contenders": comparison.contenders,
        "test": [{"path": str(p)} for p in split_files(comparison.snapshot, "test")],
        "tools": comparison.project.tools or None,
        "cache_dir": str(settings.MODEL_CACHE_DIR),
        "limit": params.get("limit"),
        "max_new_tokens": params.get("max_new_tokens", 256),
        "batch_size": params.get("batch_size", BATCH_SIZE),
        "dtype": params.get("dtype", "auto"),
        "latency_sample": params.get("latency_sample", LATENCY_SAMPLE),
        "price_per_hour": settings.TUNEDESK_HARDWARE_PRICE_PER_HOUR,
        "baseline": comparison.contenders[0]["name"],
        "probe": {"name": "general", "contenders": list(DEFAULT_NAMES), "max_new_tokens": 64}
        if params.get("probe")
        else None,
        "http": params.get("http") or {},
        "bfcl_probe": {
            "category": params.get("bfcl_category") or "simple",
            "rows": params["bfcl_probe"],
            "seed": 0,
            "contenders": list(DEFAULT_NAMES),
            "max_new_tokens": BFCL_MAX_NEW_TOKENS,
        }
        if params.get("bfcl_probe")
        else None,
    }


def without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def run_compare_job(job: Job) -> Job:
    """The worker's handler for jobs of kind "compare": run the child, keep its report."""
    comparison = job.comparison
    config = Path(job.workdir) / "config.json"
    config.write_text(json.dumps(child_config(comparison), ensure_ascii=False), encoding="utf-8")
    job = jobs.run_child(job, jobs.python_module("training.compare_entry", str(config)))
    report_path = Path(job.workdir) / "report.json"
    if job.status == Job.Status.SUCCEEDED and report_path.is_file():
        # NUL cannot be stored in PostgreSQL (an HTTP model may send one): drop it.
        comparison.report = without_nul(json.loads(report_path.read_text(encoding="utf-8")))
        comparison.save(update_fields=["report"])
    return job


def phase_labels() -> dict[str, str]:
    return {
        "load": _("loading the model"),
        "merge_check": _("checking that the merged adapter answers as the unmerged one"),
        "test": _("answering the test turns (batched)"),
        "probe": _("answering the forgetting probe"),
        "bfcl_probe": _("answering the BFCL probe (general tool calling)"),
        "latency": _("timing single requests"),
        "score": _("scoring"),
    }


def progress_view(job: Job | None) -> dict:
    """What the progress bar says: the phase that runs, for which contender, how far it is
    and its ETA (none until the phase has a pace)."""
    figures = (job.metrics if job else None) or {}
    eta, eta_total = figures.get("eta_s"), figures.get("eta_total_s")
    return {
        "eta_total": None if eta_total is None else _duration(float(eta_total)),
        "phase": phase_labels().get(figures.get("phase", ""), figures.get("phase", "")),
        "contender": figures.get("contender", ""),
        "phase_done": figures.get("phase_done"),
        "phase_total": figures.get("phase_total") or None,
        "eta": None if eta is None else _duration(float(eta)),
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return _("%(s)d s") % {"s": round(seconds)}
    return _("%(m)d min %(s)02d s") % {"m": int(seconds // 60), "s": round(seconds % 60) % 60}


def examples_of(comparison: Comparison) -> list[dict]:
    path = Path(comparison.job.workdir) / "examples.jsonl" if comparison.job else None
    if not path or not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        examples = [json.loads(line) for line in f if line.strip()]
    for e in examples:  # readable forms for the pages
        e["context_view"] = [{"role": m.get("role"), "text": message_text(m)} for m in e["context"]]
        e["reference_text"] = answer_text(e["reference"])
        for out in e["outputs"].values():
            out["text"] = answer_text(out["answer"])
    return examples


def message_text(message: dict) -> str:
    calls = message.get("tool_calls")
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    if calls:
        calls_text = answer_text([c.get("function", c) for c in calls])
        return "\n".join(p for p in (content or "", calls_text) if p)
    return text if content is not None else ""


def contender_names(comparison: Comparison) -> list[str]:
    return [c["name"] for c in comparison.contenders]


# --- the report ------------------------------------------------------------------------------


def disagree(example: dict) -> bool:
    outs = example["outputs"].values()
    answers = {answer_text(o["answer"]).strip() for o in outs}
    return len(answers) > 1 or len({bool(o.get("failed")) for o in outs}) > 1


def filter_examples(
    examples: list[dict],
    *,
    disagreements: bool = False,
    failures: bool = False,
    tool: str = "",
    contender: str = "",
) -> list[dict]:
    """Only disagreements, only failures (of `contender`, else of any), by reference tool."""
    out = []
    for e in examples:
        if disagreements and not disagree(e):
            continue
        if failures:
            outs = [e["outputs"][contender]] if contender else list(e["outputs"].values())
            if not any(o.get("failed") for o in outs):
                continue
        if tool and e["reference_label"] != tool:
            continue
        out.append(e)
    return out


def win_rates(comparison: Comparison) -> list[dict]:
    """Blind A/B win rate of each pair's first contender over its second, with a 95% CI."""
    counts: dict[tuple[str, str], list[int]] = {}
    for pair in ab_pairs(comparison):
        counts[pair] = [0, 0, 0]
    for j in comparison.judgements.all():
        winner = {"left": j.left, "right": j.right}.get(j.choice)
        for (a, b), c in counts.items():
            if {j.left, j.right} != {a, b}:
                continue
            c[2 if winner is None else 0 if winner == a else 1] += 1
    rates = []
    for (a, b), (wins, losses, ties) in counts.items():
        rate = metrics.win_rate(wins=wins, losses=losses, ties=ties)
        rates.append({"a": a, "b": b, **asdict(rate), "n": wins + losses + ties})
    return rates


def per_tool_chart(report: dict, *, width: int = 560, bar: int = 14) -> dict:
    """Grouped horizontal bars: per reference tool, each contender's accuracy (recall)."""
    contenders = [c for c in report.get("contenders", []) if c.get("tool")]
    labels = sorted(
        {t for c in contenders for t, v in c["tool"]["per_tool"].items() if v["support"]}
    )
    label_w, rows, y = 150, [], 0
    for label in labels:
        bars = []
        for i, c in enumerate(contenders):
            acc = c["tool"]["per_tool"].get(label, {}).get("accuracy") or 0.0
            bars.append(
                {
                    "name": c["name"],
                    "color": i,
                    "y": y + i * bar,
                    "w": round(acc * (width - label_w - 50), 1),
                    "value": acc,
                }
            )
        rows.append(
            {"label": label, "y": y, "text_y": y + bar * len(contenders) / 2 + 4, "bars": bars}
        )
        y += bar * len(contenders) + 10
    return {"width": width, "height": max(y, 20), "label_w": label_w, "rows": rows, "bar": bar - 2}


def latency_chart(report: dict, *, width: int = 560, bins: int = 12, height: int = 160) -> dict:
    """Latency histogram per contender on shared bins (overlaid, semi-transparent)."""
    series = [(c["name"], c.get("latencies_ms") or []) for c in report.get("contenders", [])]
    values = [v for _name, vs in series for v in vs]
    if not values:
        return {"width": width, "height": height, "series": [], "ticks": []}
    low, high = min(values), max(values)
    step = (high - low) / bins or 1.0
    plot_w, plot_h = width - 40, height - 30
    counts = []
    for _name, vs in series:
        c = [0] * bins
        for v in vs:
            c[min(int((v - low) / step), bins - 1)] += 1
        counts.append(c)
    top = max(max(c) for c in counts) or 1
    bin_w = plot_w / bins
    out = []
    for i, ((name, _values), c) in enumerate(zip(series, counts, strict=True)):
        bars = [
            {
                "x": round(40 + k * bin_w, 1),
                "w": round(bin_w - 1, 1),
                "h": round(n / top * plot_h, 1),
                "y": round(plot_h - n / top * plot_h, 1),
                "n": n,
                "range": f"{low + k * step:.0f}–{low + (k + 1) * step:.0f} ms",
            }
            for k, n in enumerate(c)
            if n
        ]
        out.append({"name": name, "color": i, "bars": bars})
    ticks = [
        {"x": round(40 + k * plot_w / 4, 1), "label": f"{low + k * (high - low) / 4:.0f}"}
        for k in range(5)
    ]
    return {"width": width, "height": height, "plot_h": plot_h, "series": out, "ticks": ticks}


#: Headline sections: (title, n key or None, rows); a row is (key, label, kind, higher is
#: better). Kinds: rate (0..1 shown as %), ms, num, money, int.
HEADLINE_SECTIONS = (
    (
        gettext_lazy("Turns that need a tool call"),
        "tool_turns",
        (
            ("tool_name_accuracy", gettext_lazy("Right tool called"), "rate", True),
            (
                "argument_exact_match",
                gettext_lazy("Right tool with exactly the right arguments"),
                "rate",
                True,
            ),
        ),
    ),
    (
        gettext_lazy("Turns that need no tool"),
        "no_tool_turns",
        (("false_call_rate", gettext_lazy("Called a tool anyway (false calls)"), "rate", False),),
    ),
    (
        gettext_lazy("General questions (forgetting probe)"),
        "probe_n",
        (
            (
                "probe_rouge_l_to_reference",
                gettext_lazy("ROUGE-L to the reference answers"),
                "rate",
                True,
            ),
        ),
    ),
    (
        gettext_lazy("General tool calling (BFCL probe)"),
        "bfcl_n",
        (("bfcl_accuracy", gettext_lazy("Calls BFCL's rules accept"), "rate", True),),
    ),
    (
        gettext_lazy("Latency of a single request (batch 1, prefix cache on)"),
        "latency_n",
        (
            ("first_token_p50_ms", gettext_lazy("Time to first token p50 (ms)"), "ms", False),
            (
                "decode_ms_per_token",
                gettext_lazy("Decode time per output token (ms)"),
                "ms1",
                False,
            ),
            ("latency_p50_ms", gettext_lazy("Whole request p50 (ms)"), "ms", False),
            ("latency_mean_ms", gettext_lazy("Whole request mean (ms)"), "ms", False),
            ("latency_p95_ms", gettext_lazy("Whole request p95 (ms)"), "ms", False),
        ),
    ),
    (
        gettext_lazy("Throughput (batched)"),
        None,
        (
            ("tokens_per_s", gettext_lazy("Output tokens/s"), "num", True),
            ("cost_per_1k_requests", gettext_lazy("Cost per 1k requests"), "money", False),
        ),
    ),
    (
        gettext_lazy("More figures"),
        None,
        (
            (
                "label_accuracy_all_turns",
                gettext_lazy("Right tool or rightly none, all turns offered tools (merged)"),
                "rate",
                True,
            ),
            ("argument_f1", gettext_lazy("Argument F1"), "rate", True),
            ("valid_json_rate", gettext_lazy("Valid JSON"), "rate", True),
            ("schema_valid_rate", gettext_lazy("Schema-valid"), "rate", True),
            ("exact_match", gettext_lazy("Text exact match"), "rate", True),
            ("chrf", gettext_lazy("chrF"), "num", True),
            ("bleu", gettext_lazy("BLEU"), "num", True),
            ("rouge_l", gettext_lazy("ROUGE-L"), "rate", True),
            ("prompt_tokens_mean", gettext_lazy("Prompt tokens"), "num", False),
            ("completion_tokens_mean", gettext_lazy("Completion tokens"), "num", False),
            ("failures", gettext_lazy("Failures"), "int", False),
        ),
    ),
)


def fmt(value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "rate":
        return f"{100 * value:.1f}%"
    if kind == "ms":
        return f"{value:,.0f}"
    if kind == "ms1":
        return f"{value:,.1f}"
    if kind == "tok":
        return f"{value:,.0f}"
    if kind == "money":
        return f"{value:.4f}"
    if kind == "int":
        return str(int(value))
    return f"{value:.1f}"


def headline_sections(report: dict) -> list[dict]:
    """The headline as sections of metric × contender rows, formatted, the best value marked,
    each section with its n; rows and sections with no value go."""
    headline = report.get("headline", [])
    sections = []
    for title, n_key, spec in HEADLINE_SECTIONS:
        rows = []
        for key, label, kind, higher in spec:
            values = [h.get(key) for h in headline]
            present = [v for v in values if v is not None]
            if not present:
                continue
            best = (max if higher else min)(present)
            cells = [{"text": fmt(v, kind), "best": v == best and len(present) > 1} for v in values]
            rows.append({"key": key, "label": label, "cells": cells})
        if rows:
            ns = {h.get(n_key) for h in headline if h.get(n_key) is not None} if n_key else set()
            n = ns.pop() if len(ns) == 1 else None
            sections.append({"title": title, "n": n, "rows": rows})
    return sections


def latency_rows(report: dict) -> list[dict]:
    """Per contender and kind of turn: where a single request's time goes."""
    kinds = {"all": _("all turns"), "tool_call": _("tool-call turns"), "text": _("text turns")}
    rows = []
    for c in report.get("contenders", []):
        for kind, label in kinds.items():
            figures = (c.get("latency") or {}).get(kind)
            if not figures or not figures.get("n"):
                continue
            rows.append(
                {
                    "name": c["name"],
                    "kind": label,
                    "n": figures["n"],
                    "cells": [
                        fmt(figures["first_token_p50_ms"], "ms"),
                        fmt(figures["decode_ms_per_token"], "ms1"),
                        fmt(figures["latency_p50_ms"], "ms"),
                        fmt(figures["latency_mean_ms"], "ms"),
                        fmt(figures["latency_p95_ms"], "ms"),
                        fmt(figures["prompt_tokens_mean"], "tok"),
                        fmt(figures["completion_tokens_p50"], "tok"),
                    ],
                }
            )
    return rows


def _times(ratio: float | None) -> str:
    return f"×{ratio:.2f}" if ratio is not None else "–"


def latency_lines(report: dict) -> list[str]:
    """One line per contender: which part of a request moved against the baseline, and why."""
    causes = {
        "prefill": _("the prompt (time to first token)"),
        "decode_speed": _("the decode speed per token"),
        "answer_length": _("the answer length (output tokens)"),
    }
    lines = []
    for s in report.get("latency_story", []):
        prompt, completion = s["prompt_tokens"], s["completion_tokens_p50"]
        if s["main"] is None:  # one side timed over HTTP, its first token unseen
            lines.append(
                _(
                    "%(name)s against %(base)s: whole request %(p50)s at p50, %(mean)s on the "
                    "mean (n = %(n)s each), prompt %(p)s vs %(pb)s tokens, answers %(c)s vs "
                    "%(cb)s output tokens (median). Measured over HTTP without the time to "
                    "first token, so the change is not split into prompt and decode."
                )
                % {
                    "name": s["contender"],
                    "base": s["baseline"],
                    "p50": _times(s["latency_p50"]),
                    "mean": _times(s["latency_mean"]),
                    "n": s["n"],
                    "p": fmt(prompt[0], "tok"),
                    "pb": fmt(prompt[1], "tok"),
                    "c": fmt(completion[0], "tok"),
                    "cb": fmt(completion[1], "tok"),
                }
            )
            continue
        lines.append(
            _(
                "%(name)s against %(base)s: time to first token %(ttft)s (prompt %(p)s vs "
                "%(pb)s tokens), decode per token %(decode)s, answers %(c)s vs %(cb)s output "
                "tokens (median); whole request %(p50)s at p50, %(mean)s on the mean (n = %(n)s "
                "each). Most of the change comes from %(cause)s."
            )
            % {
                "name": s["contender"],
                "base": s["baseline"],
                "ttft": _times(s["first_token"]),
                "p": fmt(prompt[0], "tok"),
                "pb": fmt(prompt[1], "tok"),
                "decode": _times(s["decode_per_token"]),
                "c": fmt(completion[0], "tok"),
                "cb": fmt(completion[1], "tok"),
                "p50": _times(s["latency_p50"]),
                "mean": _times(s["latency_mean"]),
                "n": s["n"],
                "cause": causes.get(s["main"], s["main"]),
            }
        )
    return lines


def settings_lines(report: dict) -> list[str]:
    """How the comparison ran, in words: precision, adapter, batch, latency method, time."""
    settings_ = report.get("settings") or {}
    lines = []
    if settings_.get("dtype"):
        lines.append(
            _("Precision: %(dtype)s (%(why)s).")
            % {"dtype": settings_["dtype"], "why": settings_.get("dtype_why", "")}
        )
    if settings_.get("device"):
        lines.append(_("Device: %(device)s.") % {"device": settings_["device"]})
    for c in report.get("contenders", []):
        ran = c.get("ran") or {}
        if ran.get("endpoint"):
            lines += http_lines(c, settings_.get("http") or {})
            continue
        check = ran.get("merge_check")
        if ran.get("adapter") and check:
            lines.append(
                _(
                    "%(name)s: LoRA adapter %(how)s for inference (greedy answers the same, "
                    "merged and unmerged, on %(same)s of %(checked)s checked examples)."
                )
                % ({"name": c["name"], "how": ran["adapter"]} | check)
            )
        if ran.get("probe_cache"):
            lines.append(
                _("%(name)s: probe answers %(cache)s.")
                % {"name": c["name"], "cache": ran["probe_cache"]}
            )
        if ran.get("bfcl_probe_cache"):
            lines.append(
                _("%(name)s: BFCL probe answers %(cache)s.")
                % {"name": c["name"], "cache": ran["bfcl_probe_cache"]}
            )
        latency = ran.get("latency") or {}
        if latency.get("requests"):
            lines.append(
                _(
                    "%(name)s: %(same)s of %(n)s requests timed alone gave the same answer as "
                    "in the batch."
                )
                % {"name": c["name"], "same": latency["same_answers"], "n": latency["requests"]}
            )
    if settings_.get("batch_size"):
        lines.append(
            _(
                "Answers generated in a continuous batch of %(batch)s with shared prompt "
                "prefixes computed once: throughput and cost per 1k requests come from it. "
                "Latency: up to %(per_kind)s examples of each kind per contender, sent one at a "
                "time (batch 1), the prompt prefix each shares with the request before it taken "
                "from the cache (prefix cache on, warmed first)."
            )
            % {
                "batch": settings_["batch_size"],
                "per_kind": (settings_.get("latency") or {}).get("per_kind", "–"),
            }
        )
    if settings_.get("seconds") is not None:
        lines.append(_("The comparison took %(s)s s.") % {"s": settings_["seconds"]})
    return lines


def http_lines(contender: dict, http: dict) -> list[str]:
    """How an HTTP contender ran: its endpoint, the tools, latency over HTTP, cost basis."""
    ran = contender["ran"]
    endpoint, latency = ran["endpoint"], ran.get("latency") or {}
    cost = (contender.get("throughput") or {}).get("cost_per_1k_requests")
    lines = [
        _(
            "%(name)s: answered by an OpenAI-compatible HTTP endpoint, %(url)s (model "
            "%(model)s), %(n)s requests at a time, each given %(timeout)s s and %(retries)s "
            "retries; tools %(tools)s."
        )
        % {
            "name": contender["name"],
            "url": endpoint["base_url"],
            "model": endpoint["model"],
            "n": http.get("concurrency", "–"),
            "timeout": http.get("timeout_s", "–"),
            "retries": http.get("retries", "–"),
            "tools": _("passed natively (tools=)")
            if endpoint.get("native_tools")
            else _("written into the prompt, as for a local model"),
        },
        (
            _(
                "%(name)s: latency measured over HTTP, whole requests sent one at a time "
                "(network and server queue included; %(same)s of %(n)s gave the same answer as "
                "before), streamed: the time to first token is when the first piece came."
            )
            if latency.get("first_token") == "measured by streaming"
            else _(
                "%(name)s: latency measured over HTTP, whole requests sent one at a time "
                "(network and server queue included; %(same)s of %(n)s gave the same answer as "
                "before); the time to first token is not measured (the endpoint does not "
                "stream)."
            )
        )
        % {
            "name": contender["name"],
            "same": latency.get("same_answers", 0),
            "n": latency.get("requests", 0),
        },
        _("%(name)s: cost per 1k requests from its per-token prices and the reported usage.")
        % {"name": contender["name"]}
        if cost is not None
        else _("%(name)s: no per-token prices in the model registry, so no cost.")
        % {"name": contender["name"]},
    ]
    if ran.get("failed_requests"):
        lines.append(
            _("%(name)s: %(n)s request(s) failed after their retries (failed examples).")
            % {"name": contender["name"], "n": ran["failed_requests"]}
        )
    return lines


def significance_rows(report: dict) -> list[dict]:
    kinds = {"latency_ms": "ms", "chrf": "num"}
    names = {
        "tool_name_correct": _("Right tool (tool-call turns)"),
        "arguments_exact": _("Exact arguments (tool-call turns)"),
        "false_call": _("False calls (no-tool turns)"),
        "chrf": _("chrF (text turns)"),
        "latency_ms": _("Latency (requests timed alone)"),
    }
    rows = []
    for s in report.get("significance", []):
        # Reports written before the sign-flip test say only n.
        judgeable = s.get("judgeable", s["n"] >= metrics.MIN_DIFFERING)
        kind = kinds.get(s["metric"], "rate")
        scale = 100 if kind == "rate" else 1
        unit = " pts" if kind == "rate" else (" ms" if kind == "ms" else "")
        rows.append(
            s
            | {
                "label": names.get(s["metric"], s["metric"]),
                "text": f"{scale * s['difference']:+.1f}{unit}",
                "interval": f"[{scale * s['low']:+.1f}, {scale * s['high']:+.1f}]",
                "judgeable": judgeable,
                "significant": s["significant"] and judgeable,
                "differing": s.get("differing"),
            }
        )
    return rows


def bfcl_probe_view(report: dict) -> dict | None:
    """The BFCL probe for the page: per contender n, accepted calls and the errors by kind,
    and the cases with each contender's answer and verdict."""
    probe = report.get("bfcl_probe")
    if not probe:
        return None
    return probe | {
        "summary": [
            {
                "name": name,
                "n": f["n"],
                "correct": f["correct"],
                "accuracy": fmt(f["accuracy"], "rate"),
                "errors": ", ".join(f"{k} {v}" for k, v in sorted(f["errors"].items())),
            }
            for name, f in probe["contenders"].items()
        ]
    }


def report_context(comparison: Comparison) -> dict:
    report = comparison.report or {}
    return {
        "report": report,
        "progress": progress_view(comparison.job),
        "headline": report.get("headline", []),
        "headline_sections": headline_sections(report),
        "latency_rows": latency_rows(report),
        "latency_lines": latency_lines(report),
        "settings_lines": settings_lines(report),
        "significance_rows": significance_rows(report),
        "min_differing": metrics.MIN_DIFFERING,
        "significance": report.get("significance", []),
        "probe": report.get("probe"),
        "bfcl_probe": bfcl_probe_view(report),
        "win_rates": win_rates(comparison),
        "tool_chart": per_tool_chart(report),
        "latency_chart": latency_chart(report),
        "names": contender_names(comparison),
        "has_http": any(c.get("endpoint") for c in comparison.contenders),
    }


def export_json(comparison: Comparison) -> dict:
    return {
        "comparison": comparison.pk,
        "project": comparison.project.slug,
        "snapshot": comparison.snapshot_id,
        "run": comparison.run_id,
        "contenders": comparison.contenders,
        "report": comparison.report,
        "win_rates": win_rates(comparison),
        "examples": examples_of(comparison),
    }


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def export_csv(comparison: Comparison) -> str:
    """One row per example and contender."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for e in examples_of(comparison):
        for name, o in e["outputs"].items():
            writer.writerow(
                {
                    "example": e["index"],
                    "row": e["row"],
                    "turn": e["turn"],
                    "kind": e["kind"],
                    "reference_label": e["reference_label"],
                    "contender": name,
                    "label": o.get("label"),
                    "tool_name_correct": o.get("tool_name_correct"),
                    "arguments_exact": o.get("arguments_exact"),
                    "errors": " ".join(o.get("errors") or []),
                    "exact": o.get("exact"),
                    "chrf": o.get("chrf"),
                    "rouge_l": o.get("rouge_l"),
                    "latency_ms": _rounded(o.get("latency_ms")),
                    "first_token_ms": _rounded(o.get("first_token_ms")),
                    "prompt_tokens": o["prompt_tokens"],
                    "completion_tokens": o["completion_tokens"],
                    "parse": o["parse"],
                    "reference": answer_text(e["reference"]),
                    "output": o["raw"],
                }
            )
    return out.getvalue()


def command_summary(comparison: Comparison) -> dict:
    """The last line of `manage.py compare --json`."""
    job = comparison.job
    report = comparison.report or {}
    bfcl_figures = (report.get("bfcl_probe") or {}).get("contenders") or {}
    return {
        "comparison": comparison.pk,
        "status": job.status if job else None,
        "error": job.error if job else "",
        "examples": report.get("examples"),
        "contenders": report.get("headline", []),
        "significance": report.get("significance", []),
        "probe": (report.get("probe") or {}).get("drift"),
        "bfcl_probe": {n: {"n": f["n"], "accuracy": f["accuracy"]} for n, f in bfcl_figures.items()}
        or None,
    }


# --- blind A/B -------------------------------------------------------------------------------


def ab_pairs(comparison: Comparison) -> list[tuple[str, str]]:
    return list(itertools.combinations(contender_names(comparison), 2))


def _ab_plan(comparison: Comparison, judge, index: int) -> tuple[str, str]:
    """(left, right) contender names for one judge and example: fixed per judge, random
    across judges and examples, so no side ever stands for a contender."""
    rng = random.Random(f"{comparison.pk}:{judge.pk}:{index}")
    a, b = rng.choice(ab_pairs(comparison))
    return (b, a) if rng.random() < 0.5 else (a, b)


def judgeable(comparison: Comparison, examples: list[dict], judge) -> list[dict]:
    """Examples whose two planned answers differ, in this judge's own random order."""
    out = []
    for e in examples:
        left, right = _ab_plan(comparison, judge, e["index"])
        if (
            answer_text(e["outputs"][left]["answer"]).strip()
            != answer_text(e["outputs"][right]["answer"]).strip()
        ):
            out.append(e)
    random.Random(f"{comparison.pk}:{judge.pk}").shuffle(out)
    return out


def next_ab(comparison: Comparison, judge) -> dict | None:
    """The next example this judge has not judged: its context and two anonymous answers."""
    done = set(comparison.judgements.filter(judge=judge).values_list("example", flat=True))
    pending = [
        e for e in judgeable(comparison, examples_of(comparison), judge) if e["index"] not in done
    ]
    if not pending:
        return None
    e = pending[0]
    left, right = _ab_plan(comparison, judge, e["index"])
    return {
        "index": e["index"],
        "context": e["context_view"],
        "tools": [t.get("function", t).get("name") for t in e.get("tools") or []],
        "left": answer_text(e["outputs"][left]["answer"]),
        "right": answer_text(e["outputs"][right]["answer"]),
        "reference": answer_text(e["reference"]),
        "remaining": len(pending),
        "judged": len(done),
    }


def record_judgement(comparison: Comparison, judge, *, example: int, choice: str) -> Judgement:
    if not comparison.project.has_role(judge, Role.REVIEWER):
        raise NotAllowed("Only reviewers and engineers judge answers.")
    if choice not in Judgement.Choice.values:
        raise InvalidInput(f"{choice!r} is not left, right or tie.", where="choice")
    if not any(e["index"] == example for e in examples_of(comparison)):
        raise InvalidInput(f"Example {example} is not in this comparison.", where="example")
    left, right = _ab_plan(comparison, judge, example)
    judgement, _ = Judgement.objects.update_or_create(
        comparison=comparison,
        example=example,
        judge=judge,
        defaults={"left": left, "right": right, "choice": choice},
    )
    return judgement


# --- failures back to work -------------------------------------------------------------------


def _reference_message(example: dict) -> dict:
    reference = example["reference"]
    if isinstance(reference, str):
        return {"role": "assistant", "content": reference}
    calls = []
    for call in reference:
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        calls.append(
            {"type": "function", "function": {"name": call["name"], "arguments": arguments}}
        )
    return {"role": "assistant", "content": None, "tool_calls": calls}


@transaction.atomic
def send_failures_to_queue(comparison: Comparison, actor, *, contender: str) -> dict:
    """Each example `contender` got wrong becomes a new record in the annotation queue: the
    conversation up to the turn with the reference answer, and the model's output as a draft
    to correct. Records stay in the test split, so they never leak into training. Sending
    again adds only examples not sent before."""
    if not comparison.project.has_role(actor, Role.ENGINEER):
        raise NotAllowed("Only engineers can send failures to the annotation queue.")
    if contender not in contender_names(comparison):
        raise InvalidInput(f"No contender {contender!r} in this comparison.", where="contender")
    project = comparison.project
    tag, _ = Tag.objects.get_or_create(project=project, name=failure_tag(comparison)[:100])
    source = f"comparison:{comparison.pk}:{contender}"
    sent = set(project.records.filter(source=source).values_list("source_index", flat=True))
    created = 0
    for e in examples_of(comparison):
        out = e["outputs"][contender]
        if not out.get("failed") or e["index"] in sent:
            continue
        record = Record(
            project=project,
            kind=Record.Kind.CONVERSATION,
            messages=[*e["context"], _reference_message(e)],
            tools=e.get("tools"),
            status=Record.Status.NEW,
            split=Record.Split.TEST,
            split_locked=True,
            source=source,
            source_index=e["index"],
            meta={
                "comparison": comparison.pk,
                "example": e["index"],
                "contender": contender,
                "errors": out.get("errors") or [],
            },
        )
        record.content_hash = record.compute_content_hash()
        record.tool_name = record_content.tool_name(record)
        record.save()
        record.tags.add(tag)
        calls = out["answer"] if out["parse"] == "tool_calls" else None
        Draft.objects.create(
            record=record,
            model_name=f"{contender} (comparison #{comparison.pk})",
            text=out["raw"],
            parse_status=out["parse"],
            tool_calls=calls,
            problems=[{"code": err} for err in out.get("errors") or []],
            latency_ms=out.get("latency_ms"),
            prompt_tokens=out["prompt_tokens"],
            completion_tokens=out["completion_tokens"],
            job_id=comparison.job_id,
        )
        created += 1
    AuditEvent.objects.create(
        actor=actor,
        project=project,
        action="compare.failures_to_queue",
        target=f"comparison #{comparison.pk}",
        data={"contender": contender, "created": created, "tag": tag.name},
    )
    return {"created": created, "already_sent": len(sent), "tag": tag.name}
