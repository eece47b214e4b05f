"""The comparison child: `python -m training.compare_entry <workdir>/config.json`. No Django.

Every contender (a base model, optionally with a LoRA adapter, and its own prompt) answers
every reply of every test row (a run of assistant messages, as curation.record_content reads
it: the last one is the row's answer), given the messages before it (tool results included);
the answers are parsed, scored with `training.metrics` and timed.

config.json (written by training.compare):
  contenders      [{"name", "model": ModelSource dict, "adapter": path or "",
                    "prompt": PromptSpec dict}]; the first is the baseline of the significance
                  tests unless "baseline" names another
  test            [{"path", "sha256"?}]: OpenAI chat rows {"messages", "tools"?} (a "chosen"
                  answer is appended as the last turn); Alpaca rows work too
  tools           the project's tool schemas: tool metrics apply where a row or the project
                  offers tools, and schema validity is checked against them
  cache_dir, limit (rows), max_new_tokens, batch_size, dtype (all contenders alike),
  price_per_hour, normalization,
  probe           {"name", "contenders": [base, tuned], "max_new_tokens"} or null

It writes to its directory: progress.jsonl, examples.jsonl (one line per scored turn with
every contender's output, the reference, a diff and the metrics), report.json (aggregates)
and result.json (the headline numbers).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curation import record_content
from curation.record_content import answer_text
from jobs.progress import ProgressWriter, write_result
from training import metrics
from training.prompting import PromptSpec, merge_tools, render_prompt

REPORT_VERSION = 1
#: Per-example figures the significance tests pair up: (metric, example filter).
PAIRED = (
    ("tool_name_correct", "tools"),
    ("arguments_exact", "tool_reference"),
    ("chrf", "text_reference"),
    ("latency_ms", "all"),
)
PROBE_BATCH = 8


class CompareDataError(ValueError):
    pass


# --- examples --------------------------------------------------------------------------------


def read_rows(path: str | Path) -> list[dict]:
    from training.entry import read_rows as read

    return read(path)


def row_messages(row: dict) -> tuple[list[dict], list | None, list[dict]]:
    """(prompt messages, tools, chosen answer) of a row; the answer is [] unless the row
    holds a chosen candidate apart from its messages."""
    from training.entry import DataError, answer_messages, sft_example

    try:
        messages, tools = sft_example(row)
        chosen = answer_messages(row["chosen"]) if "messages" in row and "chosen" in row else []
    except DataError as e:
        raise CompareDataError(str(e)) from e
    return messages[: len(messages) - len(chosen)], tools, chosen


def load_examples(rows: list[dict], *, project_tools: list | None) -> list[dict]:
    """One example per reply, in row order (record_content.replies_with)."""
    examples = []
    for row_index, row in enumerate(rows):
        messages, tools, chosen = row_messages(row)
        users = sum(m.get("role") == "user" for m in messages)
        record_kind = (
            "conversation"
            if tools or users > 1 or any(m.get("role") == "tool" for m in messages)
            else "instruction"
        )
        replies = record_content.replies_with(messages, chosen)
        for turn, (context, answer) in enumerate(replies):
            reference = record_content.reference(answer)
            examples.append(
                {
                    "index": len(examples),
                    "row": row_index,
                    "turn": turn,
                    "record_kind": record_kind,
                    "kind": "text" if isinstance(reference, str) else "tool_call",
                    "has_tools": bool(tools or project_tools),
                    "context": context,
                    "tools": tools,
                    "reference": reference,
                    "reference_label": metrics.call_label(metrics.parse_calls(reference)),
                }
            )
    return examples


# --- generation ------------------------------------------------------------------------------


def load_contender(contender: dict, *, cache_dir: str, dtype: str = "float32") -> tuple[Any, Any]:
    from training.modelload import ModelSource, load_model

    source = ModelSource(**contender["model"])
    model, tokenizer = load_model(source, cache_dir=Path(cache_dir), dtype=dtype)
    if contender.get("adapter"):
        from peft import PeftModel

        # Merged, as it would be deployed: the LoRA matmuls would otherwise slow every token.
        model = PeftModel.from_pretrained(model, contender["adapter"]).merge_and_unload()
        model.eval()
    return model, tokenizer


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    on_row: Callable[[], None],
) -> list[Any]:
    from training.generation import generate_batch

    # A first call pays one-off costs (allocations, kernel selection) that no request should.
    generate_batch(model, tokenizer, prompts[:1], max_new_tokens=2, batch_size=1)
    return generate_batch(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        on_done=lambda index, generation: on_row(),
    )


def parse(text: str, tools: list | None) -> tuple[str, metrics.Answer]:
    """(parse kind, answer for the metrics). An unparseable tool call counts as bad JSON."""
    from training.parsing import parse_output

    parsed = parse_output(text, tools=tools or None)
    if parsed.kind == "tool_calls":
        return "tool_calls", list(parsed.tool_calls)
    if parsed.kind == "unparseable":
        return "unparseable", list(parsed.tool_calls) or [
            {"name": _guess_name(text), "arguments": text}
        ]
    return "text", text


def _guess_name(text: str) -> str:
    import re

    found = re.search(r'"name"\s*:\s*"([^"]+)"', text)
    return found.group(1) if found else ""


def answer_contender(
    contender: dict, examples: list[dict], setup: dict, progress: ProgressWriter
) -> tuple[list[dict], dict | None]:
    """Each example's output for one contender, and its probe answers if it takes the probe."""
    spec = PromptSpec.from_dict(contender.get("prompt") or {})
    model, tokenizer = load_contender(
        contender, cache_dir=setup["cache_dir"], dtype=setup.get("dtype") or "float32"
    )
    prompts = [render_prompt(tokenizer, spec, e["context"], tools=e["tools"]) for e in examples]
    name = contender["name"]
    generations = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=int(setup.get("max_new_tokens") or 256),
        batch_size=int(setup.get("batch_size") or 1),
        on_row=lambda: progress.advance(1, contender=name, stage="test"),
    )
    outputs = []
    for example, generation in zip(examples, generations, strict=True):
        offered = merge_tools(setup.get("tools"), example["tools"])
        kind, answer = parse(generation.text, offered)
        outputs.append(
            {
                "raw": generation.text,
                "parse": kind,
                "answer": answer,
                "latency_ms": generation.latency_s * 1000,
                "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
                "finish_reason": generation.finish_reason,
            }
        )
    probe = None
    if name in ((setup.get("probe") or {}).get("contenders") or []):
        probe = answer_probe(model, tokenizer, setup, progress, name)
    del model
    return outputs, probe


def probe_rows(setup: dict) -> list[dict]:
    from training.probes import load_probe

    return load_probe(name=(setup.get("probe") or {}).get("name") or "general")


def answer_probe(
    model: Any, tokenizer: Any, setup: dict, progress: ProgressWriter, name: str
) -> dict:
    """General questions with a bare prompt: what drifts is the weights, not the prompt."""
    rows = probe_rows(setup)
    spec = PromptSpec()
    prompts = [
        render_prompt(tokenizer, spec, [{"role": "user", "content": r["question"]}]) for r in rows
    ]
    generations = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=int(setup["probe"].get("max_new_tokens") or 64),
        batch_size=PROBE_BATCH,  # not timed, so batched
        on_row=lambda: progress.advance(1, contender=name, stage="probe"),
    )
    return {r["id"]: g.text for r, g in zip(rows, generations, strict=True)}


# --- scoring ---------------------------------------------------------------------------------


def score(examples: list[dict], outputs: dict[str, list[dict]], setup: dict) -> dict:
    """Fill each example's per-contender metrics in place and return the aggregates."""
    norm = metrics.Normalization(**(setup.get("normalization") or {}))
    tool_idx = [e["index"] for e in examples if e["has_tools"]]
    text_idx = [e["index"] for e in examples if e["kind"] == "text"]
    report: dict = {"contenders": [], "kinds": {}}
    for name, outs in outputs.items():
        validator = _validator(setup.get("tools"), examples)
        tool = metrics.tool_call_metrics(
            [(examples[i]["reference"], outs[i]["answer"]) for i in tool_idx],
            validator=validator,
            normalization=norm,
        )
        for i, scored in zip(tool_idx, tool.examples, strict=True):
            outs[i] |= {
                "label": scored.prediction,
                "tool_name_correct": scored.name_correct,
                "arguments_exact": scored.arguments_exact,
                "errors": list(scored.errors),
            }
        text = metrics.text_metrics(
            [(examples[i]["reference"], _output_text(outs[i])) for i in text_idx]
        )
        for i, scored in zip(text_idx, text.examples, strict=True):
            outs[i] |= {"exact": scored.exact, "chrf": scored.chrf, "rouge_l": scored.rouge_l}
        for example, out in zip(examples, outs, strict=True):
            out.setdefault("label", metrics.call_label(metrics.parse_calls(out["answer"])))
            out["failed"] = _failed(out)
            out["diff"] = record_content.diff_segments(
                answer_text(example["reference"]), answer_text(out["answer"])
            )
        usage = metrics.usage_metrics(
            [o["latency_ms"] for o in outs],
            prompt_tokens=[o["prompt_tokens"] for o in outs],
            completion_tokens=[o["completion_tokens"] for o in outs],
            price_per_hour=setup.get("price_per_hour"),
            parallel=int(setup.get("batch_size") or 1),
        )
        report["contenders"].append(
            {
                "name": name,
                "tool": _strip_examples(tool.to_dict()) if tool_idx else None,
                "text": _strip_examples(text.to_dict()) if text_idx else None,
                "usage": usage.to_dict(),
                "by_kind": _by_kind(examples, outs),
                "failures": sum(o["failed"] for o in outs),
                "unparseable": sum(o["parse"] == "unparseable" for o in outs),
                "latencies_ms": [round(o["latency_ms"], 3) for o in outs],
            }
        )
    report["headline"] = [headline(c) for c in report["contenders"]]
    report["significance"] = significance(examples, outputs, setup)
    report["kinds"] = {
        "examples": len(examples),
        "tool_call": sum(e["kind"] == "tool_call" for e in examples),
        "text": len(text_idx),
        "with_tools": len(tool_idx),
        "instruction": sum(e["record_kind"] == "instruction" for e in examples),
        "conversation": sum(e["record_kind"] == "conversation" for e in examples),
    }
    return report


def _validator(project_tools: list | None, examples: list[dict]) -> metrics.Validator | None:
    tools = merge_tools(project_tools, *[e["tools"] for e in examples if e["tools"]])
    return metrics.validator_from_tools(tools) if tools else None


def _output_text(out: dict) -> str:
    return out["answer"] if isinstance(out["answer"], str) else out["raw"]


def _failed(out: dict) -> bool:
    """Wrong tool, missing/invented/wrong argument or bad JSON, or an unparseable answer."""
    return bool(out.get("errors")) or out["parse"] == "unparseable"


def _strip_examples(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "examples"}


def _mean(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _by_kind(examples: list[dict], outs: list[dict]) -> dict:
    """Per answer kind (tool call / text) and record kind (instruction / conversation)."""
    groups: dict[str, list[int]] = {}
    for e in examples:
        groups.setdefault(f"answer:{e['kind']}", []).append(e["index"])
        groups.setdefault(f"record:{e['record_kind']}", []).append(e["index"])
    return {
        key: {
            "n": len(idx),
            "tool_name_accuracy": _mean([outs[i].get("tool_name_correct") for i in idx]),
            "argument_exact_match": _mean([outs[i].get("arguments_exact") for i in idx]),
            "exact_match": _mean([outs[i].get("exact") for i in idx]),
            "chrf": _mean([outs[i].get("chrf") for i in idx]),
            "rouge_l": _mean([outs[i].get("rouge_l") for i in idx]),
            "latency_p50_ms": metrics.percentile([outs[i]["latency_ms"] for i in idx], 50),
        }
        for key, idx in sorted(groups.items())
    }


def headline(contender: dict) -> dict:
    """The numbers the report and `manage.py compare --json` lead with; None where they do
    not apply."""
    tool, text, usage = contender["tool"] or {}, contender["text"] or {}, contender["usage"]
    return {
        "name": contender["name"],
        "tool_name_accuracy": tool.get("tool_name_accuracy"),
        "argument_exact_match": tool.get("argument_exact_match"),
        "argument_f1": tool.get("argument_f1"),
        "valid_json_rate": tool.get("valid_json_rate"),
        "schema_valid_rate": tool.get("schema_valid_rate"),
        "exact_match": text.get("exact_match"),
        "chrf": text.get("chrf"),
        "bleu": text.get("bleu"),
        "rouge_l": text.get("rouge_l"),
        "latency_p50_ms": usage["latency_p50_ms"],
        "latency_p95_ms": usage["latency_p95_ms"],
        "tokens_per_s": usage["tokens_per_s"],
        "prompt_tokens_mean": usage["prompt_tokens_mean"],
        "completion_tokens_mean": usage["completion_tokens_mean"],
        "cost_per_1k_requests": usage["cost_per_1k_hardware"],
        "failures": contender["failures"],
    }


def significance(examples: list[dict], outputs: dict[str, list[dict]], setup: dict) -> list:
    """Paired bootstrap of each contender against the baseline on the headline figures."""
    names = list(outputs)
    baseline = setup.get("baseline") or names[0]
    if baseline not in outputs:
        baseline = names[0]
    filters = {
        "all": lambda e: True,
        "tools": lambda e: e["has_tools"],
        "tool_reference": lambda e: e["has_tools"] and e["kind"] == "tool_call",
        "text_reference": lambda e: e["kind"] == "text",
    }
    results = []
    for name in names:
        if name == baseline:
            continue
        for metric, which in PAIRED:
            idx = [e["index"] for e in examples if filters[which](e)]
            a = [outputs[name][i].get(metric) for i in idx]
            b = [outputs[baseline][i].get(metric) for i in idx]
            pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
            if not pairs:
                continue
            test = metrics.paired_bootstrap(
                [float(x) for x, _ in pairs], [float(y) for _, y in pairs], seed=0
            )
            results.append(
                {
                    "metric": metric,
                    "contender": name,
                    "baseline": baseline,
                    "n": len(pairs),
                    "difference": test.difference,
                    "low": test.low,
                    "high": test.high,
                    "p_value": test.p_value,
                    "significant": test.p_value < 0.05,
                }
            )
    return results


def probe_report(setup: dict, answers: dict[str, dict]) -> dict | None:
    wanted = (setup.get("probe") or {}).get("contenders") or []
    if len(wanted) != 2 or not all(n in answers for n in wanted):
        return None
    base, tuned = wanted
    rows = probe_rows(setup)
    base_answers = [answers[base][r["id"]] for r in rows]
    tuned_answers = [answers[tuned][r["id"]] for r in rows]
    drift = metrics.probe_drift(base_answers, tuned_answers, [r["reference"] for r in rows])
    return {
        "base": base,
        "tuned": tuned,
        "drift": drift,
        "rows": [
            {
                "id": r["id"],
                "lang": r["lang"],
                "question": r["question"],
                "reference": r["reference"],
                "answers": {base: b, tuned: t},
                "rouge_l_to_base": metrics.rouge_l(b, t),
            }
            for r, b, t in zip(rows, base_answers, tuned_answers, strict=True)
        ],
    }


# --- main ------------------------------------------------------------------------------------


def run(config_path: str | Path) -> dict:
    config_path = Path(config_path)
    setup = json.loads(config_path.read_text(encoding="utf-8"))
    workdir = config_path.parent
    rows = [row for f in setup["test"] for row in read_rows(f["path"])]
    if setup.get("limit"):
        rows = rows[: int(setup["limit"])]
    examples = load_examples(rows, project_tools=setup.get("tools"))
    if not examples:
        raise CompareDataError(
            "The test split has no assistant turn to score. Fix: export a snapshot with a "
            "test split (test_ratio above 0) of records that have answers."
        )
    contenders = setup["contenders"]
    probe_for = [
        c for c in contenders if c["name"] in ((setup.get("probe") or {}).get("contenders") or [])
    ]
    n_probe = len(probe_rows(setup)) if probe_for else 0
    progress = ProgressWriter(
        workdir, total=len(contenders) * len(examples) + len(probe_for) * n_probe
    )
    outputs, probes = {}, {}
    for contender in contenders:
        outputs[contender["name"]], probe = answer_contender(contender, examples, setup, progress)
        if probe is not None:
            probes[contender["name"]] = probe
    report = score(examples, outputs, setup)
    report |= {
        "version": REPORT_VERSION,
        "rows": len(rows),
        "examples": len(examples),
        "probe": probe_report(setup, probes),
        "settings": {
            k: setup.get(k)
            for k in (
                "limit",
                "max_new_tokens",
                "batch_size",
                "dtype",
                "price_per_hour",
                "normalization",
            )
        },
    }
    write_outputs(workdir, examples, outputs, report)
    result = {"headline": report["headline"], "examples": len(examples)}
    write_result(workdir, result)
    return result


def write_outputs(
    workdir: Path, examples: list[dict], outputs: dict[str, list[dict]], report: dict
) -> None:
    with (workdir / "examples.jsonl").open("w", encoding="utf-8") as f:
        for example in examples:
            line = example | {
                "outputs": {name: outs[example["index"]] for name, outs in outputs.items()}
            }
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    (workdir / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m training.compare_entry <workdir>/config.json", file=sys.stderr)
        return 2
    try:
        result = run(argv[0])
    except Exception as exc:
        traceback.print_exc()
        # The job's error shows the last log line: make it the cause.
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps(result["headline"], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
