"""The comparison child: `python -m training.compare_entry <workdir>/config.json`. No Django.

Every contender (a base model, optionally with a LoRA adapter, and its own prompt) answers
every reply of every test row (a run of assistant messages, as curation.record_content reads
it: the last one is the row's answer), given the messages before it (tool results included);
the answers are parsed and scored with `training.metrics`.

Fast and honest: each contender answers all examples in one continuous batch (`batch_size`
rows in flight, shared prompt prefixes computed once), on a CUDA GPU where the host has one
(bf16 where it computes it), else in the precision this CPU computes fastest ("auto":
training.modelload.placement; the log and the report's settings say which), a LoRA adapter
merged into the weights where that leaves the greedy answers of a few checked examples
unchanged (else it answers unmerged). Latency is measured apart, as
a single request sees it: a sample of examples of each kind (`latency_sample`) sent one at a
time with a warm prefix cache; throughput and cost come from the batch. A base model's probe
answers are cached under cache_dir/probe-answers/, keyed by the model's files and settings.

Two probes, one mechanism (`PROBES`): "general" asks general questions (training/probes/) and
measures how far the tuned answers drift from the base's; "bfcl" asks a seeded sample of one
BFCL category (training/bfcl.py), each question with its own functions offered as tools, and
scores the parsed calls by BFCL's rules. Both use the contender's way of rendering a prompt
(template, mode, tool style) without the project's system prompt, tools or examples: what
they measure is the weights, not the prompt.

config.json (written by training.compare):
  contenders      [{"name", "model": ModelSource dict, "adapter": path or "",
                    "prompt": PromptSpec dict}]; the first is the baseline of the significance
                  tests unless "baseline" names another. An HTTP contender has "endpoint"
                  (backends.Endpoint fields) and "prices" instead of a model: training.
                  compare_http answers it
  http            {"concurrency", "timeout_s", "retries", "backoff_s"} for HTTP contenders
  test            [{"path", "sha256"?}]: OpenAI chat rows {"messages", "tools"?} (a "chosen"
                  answer is appended as the last turn); Alpaca rows work too
  tools           the project's tool schemas: tool metrics apply where a row or the project
                  offers tools, and schema validity is checked against them
  cache_dir, limit (rows), max_new_tokens, batch_size, dtype ("auto", "float32" or
  "bfloat16"; all contenders alike), latency_sample (per kind), merge_check (examples per
  kind), price_per_hour, normalization,
  probe           {"name", "contenders": [base, tuned], "max_new_tokens"} or null
  bfcl_probe      {"category", "rows", "seed", "contenders": [base, tuned], "max_new_tokens"}
                  or null

It writes to its directory: progress.jsonl, examples.jsonl (one line per scored turn with
every contender's output, the reference, a diff and the metrics), report.json (aggregates)
and result.json (the headline numbers).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from curation import record_content
from curation.record_content import answer_text
from jobs.progress import PhasedProgress, write_result
from training import metrics
from training.modelload import placement
from training.prompting import PromptSpec, merge_tools, render_prompt

REPORT_VERSION = 2
#: Bumped when the probe's answers would differ for the same model and settings.
PROBE_CACHE_VERSION = 2
#: The probes a contender may take -> the setup key that configures each (also its phase).
PROBES = {"general": "probe", "bfcl": "bfcl_probe"}
#: Per-example figures the significance tests pair up: (metric, example filter).
PAIRED = (
    ("tool_name_correct", "tool_reference"),
    ("arguments_exact", "tool_reference"),
    ("false_call", "no_tool"),
    ("chrf", "text_reference"),
    ("latency_ms", "all"),  # the examples timed alone
)
#: Examples of each answer kind timed one request at a time, per contender.
LATENCY_SAMPLE = 12


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

#: What each phase of a contender does, as the progress line names it.
PHASES = ("load", "merge_check", "test", "probe", "bfcl_probe", "latency")


def load_contender(
    contender: dict,
    *,
    cache_dir: str,
    dtype: str = "float32",
    merge: bool = True,
    device: str = "cpu",
) -> tuple[Any, Any]:
    from training.modelload import ModelSource, load_model

    source = ModelSource(**contender["model"])
    model, tokenizer = load_model(source, cache_dir=Path(cache_dir), dtype=dtype, device=device)
    if contender.get("adapter"):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, contender["adapter"])
        if merge:
            # Merged, as it would be deployed: the LoRA matmuls would otherwise slow every token.
            model = model.merge_and_unload()
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
    warm: bool = True,
) -> list[Any]:
    from training.generation import generate_batch

    if warm:
        # A first call pays one-off costs (allocations, kernel selection) no request should.
        generate_batch(model, tokenizer, prompts[:1], max_new_tokens=2, batch_size=1)
    return generate_batch(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        on_done=lambda index, generation: on_row(),
    )


def parse(
    text: str, tools: list | None, tool_calls: list | None = None
) -> tuple[str, metrics.Answer]:
    """(parse kind, answer for the metrics) of a local model's text or an endpoint's message
    (its content and tool_calls). An unparseable tool call counts as bad JSON."""
    from training.parsing import parse_output

    parsed = parse_output(text, tool_calls=tool_calls, tools=tools or None)
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


def latency_sample(examples: list[dict], per_kind: int) -> list[int]:
    """Indices of the examples timed one request at a time: up to `per_kind` of each answer
    kind, spread evenly over the split (the same for every contender, so pairs compare)."""
    chosen = []
    for kind in ("tool_call", "text"):
        idx = [e["index"] for e in examples if e["kind"] == kind]
        if len(idx) <= per_kind:
            chosen += idx
        elif per_kind > 0:
            step = (len(idx) - 1) / max(1, per_kind - 1)
            chosen += [idx[round(k * step)] for k in range(per_kind)]
    return sorted(set(chosen))


def merge_check_sample(examples: list[dict], n: int) -> list[int]:
    """The first `n` examples of each kind: the merged adapter must answer them as the
    unmerged one does."""
    return sorted(
        e["index"]
        for kind in ("tool_call", "text")
        for e in [x for x in examples if x["kind"] == kind][:n]
    )


def answer_contender(
    contender: dict, examples: list[dict], setup: dict, progress: PhasedProgress
) -> tuple[list[dict], dict[str, dict], dict]:
    """Each example's output for one contender, its answers to each probe it takes (by probe),
    and how it ran (precision, adapter merged or not, throughput, latency method)."""
    name = contender["name"]
    if contender.get("endpoint"):
        from training import compare_http

        takes_probe = name in ((setup.get("probe") or {}).get("contenders") or [])
        # An endpoint takes the general probe only (compare.check_bfcl_probe refuses the BFCL
        # probe for one).
        outputs, probe, ran = compare_http.answer(
            contender,
            examples,
            setup,
            progress,
            parse=parse,
            probe_rows=(lambda: probe_rows(setup)) if takes_probe else None,
        )
        return outputs, ({"general": probe} if probe is not None else {}), ran
    spec = PromptSpec.from_dict(contender.get("prompt") or {})
    dtype, device = setup["dtype"], setup.get("device", "cpu")
    max_new_tokens = int(setup.get("max_new_tokens") or 256)
    batch_size = int(setup.get("batch_size") or 16)
    progress.phase("load", contender=name)
    adapter = bool(contender.get("adapter"))
    check = merge_check_sample(examples, int(setup.get("merge_check", 2))) if adapter else []
    ran: dict[str, Any] = {
        "dtype": dtype,
        "device": device,
        "adapter": "merged" if adapter else None,
    }
    unmerged: list[str] = []
    if check:
        model, tokenizer = load_contender(
            contender, cache_dir=setup["cache_dir"], dtype=dtype, merge=False, device=device
        )
        prompts = _prompts(tokenizer, spec, [examples[i] for i in check])
        progress.phase("merge_check", len(check), contender=name)
        unmerged = [
            g.text
            for g in generate(
                model,
                tokenizer,
                prompts,
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
                on_row=progress.advance,
            )
        ]
        model = model.merge_and_unload()
        model.eval()
    else:
        model, tokenizer = load_contender(
            contender, cache_dir=setup["cache_dir"], dtype=dtype, device=device
        )
    prompts = _prompts(tokenizer, spec, examples)

    def answer_all(model: Any, tokenizer: Any) -> tuple[list, float]:
        """Every test prompt in one continuous batch, and the seconds it took."""
        started = time.perf_counter()
        out = generate(
            model,
            tokenizer,
            prompts,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            on_row=progress.advance,
        )
        return out, time.perf_counter() - started

    progress.phase("test", len(examples), contender=name)
    generations, seconds = answer_all(model, tokenizer)
    if check:
        same = sum(generations[i].text == t for i, t in zip(check, unmerged, strict=True))
        ran["merge_check"] = {"checked": len(check), "same": same}
        if same < len(check):
            # Merging changed a greedy answer: the unmerged adapter answers, as trained.
            ran["adapter"] = "unmerged"
            del model
            model, tokenizer = load_contender(
                contender, cache_dir=setup["cache_dir"], dtype=dtype, merge=False, device=device
            )
            progress.phase("test", len(examples), extra=True, contender=name, unmerged=True)
            generations, seconds = answer_all(model, tokenizer)
    completion = sum(g.completion_tokens for g in generations)
    ran["throughput"] = {
        "batch_size": batch_size,
        "requests": len(generations),
        "seconds": round(seconds, 3),
        "requests_per_s": len(generations) / seconds if seconds else None,
        "tokens_per_s": completion / seconds if seconds else None,
    }
    outputs = []
    for example, generation in zip(examples, generations, strict=True):
        offered = merge_tools(setup.get("tools"), example["tools"])
        kind, answer = parse(generation.text, offered)
        outputs.append(
            {
                "raw": generation.text,
                "parse": kind,
                "answer": answer,
                "latency_ms": None,  # timed alone below, for the sampled examples
                "first_token_ms": None,
                "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
                "finish_reason": generation.finish_reason,
            }
        )
    probes = {}
    for kind, key in PROBES.items():
        if name in ((setup.get(key) or {}).get("contenders") or []):
            probes[kind], ran[f"{key}_cache"] = answer_probe(
                model, tokenizer, setup, progress, contender, batch_size, kind=kind
            )
    ran["latency"] = time_requests(
        model, tokenizer, prompts, outputs, setup, progress, name, max_new_tokens
    )
    del model
    return outputs, probes, ran


def _prompts(tokenizer: Any, spec: PromptSpec, examples: list[dict]) -> list[str]:
    return [render_prompt(tokenizer, spec, e["context"], tools=e["tools"]) for e in examples]


def time_requests(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    outputs: list[dict],
    setup: dict,
    progress: PhasedProgress,
    name: str,
    max_new_tokens: int,
) -> dict:
    """Latency as a single request sees it: the sampled examples one at a time (batch 1),
    each reusing the prefix it shares with the request before it, as a serving engine with a
    prefix cache would; the shared prefix is warm before the first timed request. Fills the
    sampled outputs' latency_ms and first_token_ms."""
    sample = setup["latency_sample_indices"]
    progress.phase("latency", len(sample), contender=name)
    if not sample:
        return {"batch_size": 1, "prefix_cache": "on", "requests": 0, "same_answers": 0}
    chosen = [prompts[i] for i in sample]
    # Sorted by token ids the prompts share prefixes; the first of them is asked twice and
    # its first answer (the one that fills the cache) is not timed.
    first = min(range(len(chosen)), key=lambda k: tokenizer(chosen[k])["input_ids"])
    finished = []

    def on_row() -> None:  # the untimed warm request (the first to finish) is no unit
        finished.append(1)
        if len(finished) > 1:
            progress.advance()

    generations = generate(
        model,
        tokenizer,
        [chosen[first], *chosen],
        max_new_tokens=max_new_tokens,
        batch_size=1,
        on_row=on_row,
    )[1:]
    same = 0
    for i, g in zip(sample, generations, strict=True):
        same += g.text == outputs[i]["raw"]
        outputs[i]["latency_ms"] = g.latency_s * 1000
        outputs[i]["first_token_ms"] = (
            g.first_token_s * 1000 if g.first_token_s is not None else None
        )
    return {"batch_size": 1, "prefix_cache": "on", "requests": len(sample), "same_answers": same}


def probe_rows(setup: dict) -> list[dict]:
    from training.probes import load_probe

    return load_probe(name=(setup.get("probe") or {}).get("name") or "general")


def bfcl_cases(setup: dict) -> list:
    """The BFCL probe's cases: a seeded sample of `rows` cases of its category (the same
    sample every time, so a base model's answers stay cached)."""
    from training import bfcl

    config = setup.get("bfcl_probe") or {}
    return bfcl.load(
        config.get("category") or "simple",
        limit=int(config["rows"]) if config.get("rows") else None,
        seed=int(config.get("seed") or 0),
    )


def probe_items(setup: dict, kind: str = "general") -> list[dict]:
    """Each question of a probe as {"id", "messages", "tools"}."""
    if kind == "bfcl":
        return [{"id": c.id, "messages": c.messages, "tools": c.tools} for c in bfcl_cases(setup)]
    return [
        {"id": r["id"], "messages": [{"role": "user", "content": r["question"]}], "tools": None}
        for r in probe_rows(setup)
    ]


def probe_spec(contender: dict) -> PromptSpec:
    """The contender's way of rendering a prompt (template, chat or template mode, how tools
    are shown) without the project's system prompt, tools and examples."""
    spec = PromptSpec.from_dict(contender.get("prompt") or {})
    style = "auto" if spec.tool_style == "none" else spec.tool_style  # a probe's tools show
    return PromptSpec(template=spec.template, mode=spec.mode, tool_style=style)


def _probe_max_new_tokens(setup: dict, kind: str) -> int:
    return int((setup.get(PROBES[kind]) or {}).get("max_new_tokens") or 64)


def probe_cache_path(setup: dict, contender: dict, kind: str = "general") -> Path | None:
    """Where a base model's probe answers are kept (none for a tuned contender): a key over
    the model and its files, the precision, the probe's questions (and tools), the prompt's
    shape and the answer length."""
    if contender.get("adapter") or contender.get("endpoint"):
        return None
    import hashlib

    from training.modelload import ModelSource

    source = ModelSource(**contender["model"])
    files = []
    if source.source and Path(source.source).exists():
        root = Path(source.source)
        for f in sorted([root] if root.is_file() else root.iterdir()):
            if f.is_file():
                stat = f.stat()
                files.append([f.name, stat.st_size, stat.st_mtime_ns])
    key = {
        "model": contender["model"],
        "files": files,
        "dtype": setup["dtype"],
        # answers on a GPU are cached apart (keys of CPU runs stay as they were)
        **({"device": setup["device"]} if setup.get("device", "cpu") != "cpu" else {}),
        "max_new_tokens": _probe_max_new_tokens(setup, kind),
        "probe": probe_items(setup, kind),
        "prompt": asdict(probe_spec(contender)),
        "version": PROBE_CACHE_VERSION,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return Path(setup["cache_dir"]) / "probe-answers" / f"{source.name}-{kind}-{digest}.json"


def answer_probe(
    model: Any,
    tokenizer: Any,
    setup: dict,
    progress: PhasedProgress,
    contender: dict,
    batch_size: int,
    *,
    kind: str = "general",
) -> tuple[dict, str]:
    """One probe's questions (probe_items), each with its own tools if any, in the prompt of
    probe_spec: what drifts is the weights, not the prompt. {id: raw answer}; a base model's
    answers come from the cache when it has them ("hit")."""
    items = probe_items(setup, kind)
    cached = probe_cache_path(setup, contender, kind)
    if cached is not None and cached.is_file():
        answers = json.loads(cached.read_text(encoding="utf-8"))
        if all(item["id"] in answers for item in items):
            return answers, "hit"
    spec = probe_spec(contender)
    prompts = [
        render_prompt(tokenizer, spec, item["messages"], tools=item["tools"]) for item in items
    ]
    progress.phase(PROBES[kind], len(items), contender=contender["name"])
    generations = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=_probe_max_new_tokens(setup, kind),
        batch_size=batch_size,
        on_row=progress.advance,
        warm=False,
    )
    answers = {item["id"]: g.text for item, g in zip(items, generations, strict=True)}
    if cached is None:
        return answers, "not cached (tuned)"
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    partial.replace(cached)  # whole or not at all, for a comparison running beside this one
    return answers, "miss"


# --- scoring ---------------------------------------------------------------------------------


def score(
    examples: list[dict],
    outputs: dict[str, list[dict]],
    setup: dict,
    ran: dict[str, dict] | None = None,
) -> dict:
    """Fill each example's per-contender metrics in place and return the aggregates.

    `ran`: per contender, how it ran (answer_contender's third value): throughput and cost
    come from its batched answers, latency from the examples it answered alone.
    """
    ran = ran or {}
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
            if examples[i]["kind"] == "text":  # a turn that needs no tool
                outs[i]["false_call"] = scored.prediction != metrics.NO_TOOL
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
        how = ran.get(name) or {}
        timed = [o for o in outs if o.get("latency_ms") is not None]
        counted = [o for o in outs if o["prompt_tokens"] is not None]  # an endpoint may not say
        usage = metrics.usage_metrics(
            [o["latency_ms"] for o in timed],
            prompt_tokens=[o["prompt_tokens"] for o in counted],
            completion_tokens=[o["completion_tokens"] or 0 for o in counted],
        )
        report["contenders"].append(
            {
                "name": name,
                "turns": turn_figures(examples, outs),
                "tool": _strip_examples(tool.to_dict()) if tool_idx else None,
                "text": _strip_examples(text.to_dict()) if text_idx else None,
                "usage": usage.to_dict(),
                "latency": latency_by_kind(examples, outs),
                "throughput": _throughput(how.get("throughput"), setup.get("price_per_hour"), outs),
                "by_kind": _by_kind(examples, outs),
                "failures": sum(o["failed"] for o in outs),
                "unparseable": sum(o["parse"] == "unparseable" for o in outs),
                "latencies_ms": [round(o["latency_ms"], 3) for o in timed],
                "ran": {k: v for k, v in how.items() if k != "throughput"},
            }
        )
    report["headline"] = [headline(c) for c in report["contenders"]]
    report["significance"] = significance(examples, outputs, setup)
    report["latency_story"] = latency_story(report["contenders"], setup)
    report["kinds"] = {
        "examples": len(examples),
        "tool_call": sum(e["kind"] == "tool_call" for e in examples),
        "text": len(text_idx),
        "with_tools": len(tool_idx),
        "instruction": sum(e["record_kind"] == "instruction" for e in examples),
        "conversation": sum(e["record_kind"] == "conversation" for e in examples),
    }
    return report


def turn_figures(examples: list[dict], outs: list[dict]) -> dict:
    """The two questions a team asks, each with its n: on the turns that need a tool call,
    how often the right tool is called, and with exactly the right arguments; on the turns
    that need none (tools offered, the reference answers in text), how often one is called
    anyway. A contender that never calls a tool scores 0 on the first two, whatever the
    share of text turns."""
    need = [i for i, e in enumerate(examples) if e["has_tools"] and e["kind"] == "tool_call"]
    none = [i for i, e in enumerate(examples) if e["has_tools"] and e["kind"] == "text"]
    return {
        "tool_call": {
            "n": len(need),
            "right_tool": _mean([outs[i].get("tool_name_correct") for i in need]),
            "exact_arguments": _mean([outs[i].get("arguments_exact") for i in need]),
        },
        "no_tool": {
            "n": len(none),
            "false_call": _mean([outs[i].get("false_call") for i in none]),
        },
    }


def latency_by_kind(examples: list[dict], outs: list[dict]) -> dict:
    """metrics.latency_breakdown over the requests timed alone: all, and per answer kind."""
    groups: dict[str, list[int]] = {"all": []}
    for e in examples:
        if outs[e["index"]].get("latency_ms") is None:
            continue
        groups["all"].append(e["index"])
        groups.setdefault(e["kind"], []).append(e["index"])
    out = {}
    for key, idx in groups.items():
        timed = [outs[i] for i in idx]
        figures = metrics.latency_breakdown(
            [o["latency_ms"] for o in timed],
            [o.get("first_token_ms") or 0.0 for o in timed],
            [o["completion_tokens"] or 0 for o in timed],
            [o["prompt_tokens"] or 0 for o in timed],
        ).to_dict()
        if any(o.get("first_token_ms") is None for o in timed):
            # Timed over HTTP without streaming: the first token's time is unknown, and so
            # is the decode time per token.
            figures |= dict.fromkeys(
                ("first_token_p50_ms", "first_token_mean_ms", "decode_ms_per_token")
            )
        out[key] = figures
    return out


def _throughput(
    throughput: dict | None, price_per_hour: float | None, outs: list[dict] = ()
) -> dict | None:
    """The batched answers' pace, and what 1,000 requests cost at it: on the hardware's
    hourly price, or for an HTTP contender (`prices` given) at its per-token prices and the
    token counts its server reported."""
    if not throughput or not throughput.get("requests"):
        return None
    cost = None
    if "prices" in throughput:
        prices = throughput["prices"]
        answered = [o for o in outs if o.get("prompt_tokens") is not None]
        if answered and None not in (prices.get("prompt_per_1k"), prices.get("completion_per_1k")):
            cost = metrics.cost_per_1k_from_tokens(
                [o["prompt_tokens"] for o in answered],
                [o["completion_tokens"] or 0 for o in answered],
                prompt_price_per_mtok=prices["prompt_per_1k"] * 1000,
                completion_price_per_mtok=prices["completion_per_1k"] * 1000,
            )
        return throughput | {"cost_per_1k_requests": cost, "cost_basis": "tokens"}
    per_request_ms = throughput["seconds"] * 1000 / throughput["requests"]
    if price_per_hour is not None:
        cost = metrics.cost_per_1k_from_hardware([per_request_ms], price_per_hour=price_per_hour)
    return throughput | {"cost_per_1k_requests": cost, "cost_basis": "hardware"}


def latency_story(contenders: list[dict], setup: dict) -> list[dict]:
    """Per contender against the baseline: the ratios of time to first token, decode time per
    token, output length and whole-request latency, and which of them moved the request most
    (prefill, decode speed or answer length). compare.latency_line words it."""
    by_name = {c["name"]: c for c in contenders}
    if not by_name:
        return []
    baseline = setup.get("baseline") if setup.get("baseline") in by_name else contenders[0]["name"]
    base = by_name[baseline]["latency"].get("all")
    stories = []
    for c in contenders:
        mine = c["latency"].get("all")
        if c["name"] == baseline or not base or not mine or not base["n"] or not mine["n"]:
            continue

        def ratio(key: str, mine: dict = mine) -> float | None:
            a, b = mine.get(key), base.get(key)
            return a / b if a is not None and b else None

        base_ms, mine_ms = base["latency_mean_ms"], mine["latency_mean_ms"]
        parts, main = None, None
        if None not in (mine["first_token_mean_ms"], base["first_token_mean_ms"]):
            # Split the change of the mean request into prefill, per-token speed and length
            # (not for a request timed over HTTP without its first token).
            parts = {
                "prefill": mine["first_token_mean_ms"] - base["first_token_mean_ms"],
                "decode_speed": _decode_part(mine, base, speed=True),
                "answer_length": _decode_part(mine, base, speed=False),
            }
            main = max(parts, key=lambda k: abs(parts[k] or 0.0))
        stories.append(
            {
                "contender": c["name"],
                "baseline": baseline,
                "n": mine["n"],
                "first_token": ratio("first_token_mean_ms"),
                "decode_per_token": ratio("decode_ms_per_token"),
                "output_tokens": ratio("completion_tokens_p50"),
                "latency_p50": ratio("latency_p50_ms"),
                "latency_mean": ratio("latency_mean_ms"),
                "prompt_tokens": [mine["prompt_tokens_mean"], base["prompt_tokens_mean"]],
                "completion_tokens_p50": [
                    mine["completion_tokens_p50"],
                    base["completion_tokens_p50"],
                ],
                "change_ms": mine_ms - base_ms,
                "parts_ms": parts,
                "main": main,
            }
        )
    return stories


def _decode_part(mine: dict, base: dict, *, speed: bool) -> float:
    """The change of the mean request's decode time due to per-token speed (at the
    baseline's answer length) or to answer length (at this contender's speed)."""
    per_base, per_mine = base["decode_ms_per_token"] or 0.0, mine["decode_ms_per_token"] or 0.0
    decode_base = base["latency_mean_ms"] - base["first_token_mean_ms"]
    decode_mine = mine["latency_mean_ms"] - mine["first_token_mean_ms"]
    tokens_base = decode_base / per_base if per_base else 0.0
    tokens_mine = decode_mine / per_mine if per_mine else 0.0
    if speed:
        return (per_mine - per_base) * tokens_base
    return (tokens_mine - tokens_base) * per_mine


def _validator(project_tools: list | None, examples: list[dict]) -> metrics.Validator | None:
    tools = merge_tools(project_tools, *[e["tools"] for e in examples if e["tools"]])
    return metrics.validator_from_tools(tools) if tools else None


def _output_text(out: dict) -> str:
    return out["answer"] if isinstance(out["answer"], str) else out["raw"]


def _failed(out: dict) -> bool:
    """Wrong tool, missing/invented/wrong argument or bad JSON, an unparseable answer, or a
    request to an endpoint that got no answer."""
    return bool(out.get("errors") or out.get("request_error")) or out["parse"] == "unparseable"


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
            "latency_p50_ms": metrics.percentile(
                [outs[i]["latency_ms"] for i in idx if outs[i].get("latency_ms") is not None], 50
            ),
        }
        for key, idx in sorted(groups.items())
    }


def headline(contender: dict) -> dict:
    """The numbers the report and `manage.py compare --json` lead with; None where they do
    not apply. Tool figures are on the turns that need a tool call (`tool_turns` of them),
    the false-call rate on the turns that need none (`no_tool_turns`);
    `label_accuracy_all_turns` is the merged figure (the right tool or rightly none, over
    every turn offered tools), which a model that never calls a tool can score well on."""
    tool, text, usage = contender["tool"] or {}, contender["text"] or {}, contender["usage"]
    turns = contender["turns"]
    latency = contender["latency"].get("all") or {}
    throughput = contender.get("throughput") or {}
    return {
        "name": contender["name"],
        "tool_turns": turns["tool_call"]["n"],
        "tool_name_accuracy": turns["tool_call"]["right_tool"],
        "argument_exact_match": turns["tool_call"]["exact_arguments"],
        "no_tool_turns": turns["no_tool"]["n"],
        "false_call_rate": turns["no_tool"]["false_call"],
        "label_accuracy_all_turns": tool.get("tool_name_accuracy"),
        "argument_f1": tool.get("argument_f1"),
        "valid_json_rate": tool.get("valid_json_rate"),
        "schema_valid_rate": tool.get("schema_valid_rate"),
        "text_turns": text.get("n"),
        "exact_match": text.get("exact_match"),
        "chrf": text.get("chrf"),
        "bleu": text.get("bleu"),
        "rouge_l": text.get("rouge_l"),
        "latency_n": latency.get("n"),
        "first_token_p50_ms": latency.get("first_token_p50_ms"),
        "decode_ms_per_token": latency.get("decode_ms_per_token"),
        "latency_p50_ms": latency.get("latency_p50_ms"),
        "latency_mean_ms": latency.get("latency_mean_ms"),
        "latency_p95_ms": latency.get("latency_p95_ms"),
        "tokens_per_s": throughput.get("tokens_per_s"),
        "prompt_tokens_mean": usage["prompt_tokens_mean"],
        "completion_tokens_mean": usage["completion_tokens_mean"],
        "cost_per_1k_requests": throughput.get("cost_per_1k_requests"),
        "failures": contender["failures"],
    }


def significance(examples: list[dict], outputs: dict[str, list[dict]], setup: dict) -> list:
    """Each contender against the baseline on the headline figures, paired over the same
    examples (metrics.paired_test: bootstrap interval, sign-flip p-value, and no
    "significant" on fewer differing pairs than the test can judge)."""
    names = list(outputs)
    baseline = setup.get("baseline") or names[0]
    if baseline not in outputs:
        baseline = names[0]
    filters = {
        "all": lambda e: True,
        "tool_reference": lambda e: e["has_tools"] and e["kind"] == "tool_call",
        "no_tool": lambda e: e["has_tools"] and e["kind"] == "text",
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
            test = metrics.paired_test(
                [float(x) for x, _ in pairs], [float(y) for _, y in pairs], seed=0
            )
            row = {"metric": metric, "contender": name, "baseline": baseline}
            results.append(row | asdict(test))
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


def bfcl_report(setup: dict, answers: dict[str, dict]) -> dict | None:
    """Per contender that took the BFCL probe: its answers parsed into calls (as the test
    turns are) and judged by BFCL's rules (bfcl.check): n, how many BFCL accepts, the
    accuracy and the count of each kind of error; and per case every contender's verdict."""
    from training import bfcl

    config = setup.get("bfcl_probe") or {}
    names = [n for n in config.get("contenders") or [] if n in answers]
    if not names:
        return None
    figures = {n: {"n": 0, "correct": 0, "errors": {}} for n in names}
    rows = []
    for case in bfcl_cases(setup):
        verdicts = {}
        for name in names:
            raw = answers[name][case.id]
            kind, answer = parse(raw, case.tools)
            verdict = bfcl.check(case, answer)
            verdicts[name] = {"raw": raw, "parse": kind, "valid": verdict.valid}
            verdicts[name]["error"] = verdict.error
            mine = figures[name]
            mine["n"] += 1
            mine["correct"] += verdict.valid
            if verdict.error:
                mine["errors"][verdict.error] = mine["errors"].get(verdict.error, 0) + 1
        users = [m.get("content") or "" for m in case.messages if m.get("role") == "user"]
        reference = case.reference()
        rows.append(
            {
                "id": case.id,
                "question": users[-1] if users else "",
                "functions": [fn["name"] for fn in case.functions],
                "reference": answer_text(reference) if reference else "",
                "answers": verdicts,
            }
        )
    for mine in figures.values():
        mine["accuracy"] = mine["correct"] / mine["n"] if mine["n"] else None
    return {
        "category": config.get("category") or "simple",
        "contenders": figures,
        "rows": rows,
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
    setup["dtype_requested"] = setup.get("dtype") or "auto"
    where = placement(setup["dtype_requested"])
    setup["device"], setup["dtype"], dtype_why = where.device, where.dtype, where.why
    print(f"Comparing on {where.describe()}.", flush=True)
    setup["latency_sample_indices"] = latency_sample(
        examples, int(setup.get("latency_sample", LATENCY_SAMPLE))
    )
    progress = PhasedProgress(workdir, planned_phases(contenders, examples, setup))
    outputs, probes, ran = {}, {}, {}
    for contender in contenders:
        name = contender["name"]
        outputs[name], probes[name], ran[name] = answer_contender(
            contender, examples, setup, progress
        )

    def answers_to(kind: str) -> dict[str, dict]:
        return {name: p[kind] for name, p in probes.items() if kind in p}

    progress.phase("score")
    report = score(examples, outputs, setup, ran)
    report |= {
        "version": REPORT_VERSION,
        "rows": len(rows),
        "examples": len(examples),
        "probe": probe_report(setup, answers_to("general")),
        "bfcl_probe": bfcl_report(setup, answers_to("bfcl")),
        "settings": {
            k: setup.get(k)
            for k in (
                "limit",
                "max_new_tokens",
                "batch_size",
                "device",
                "dtype",
                "price_per_hour",
                "normalization",
            )
        }
        | {
            "dtype_requested": setup["dtype_requested"],
            "http": http_settings(setup) if any(c.get("endpoint") for c in contenders) else None,
            "dtype_why": dtype_why,
            "latency": {
                "batch_size": 1,
                "prefix_cache": "on",
                "per_kind": int(setup.get("latency_sample", LATENCY_SAMPLE)),
                "requests": len(setup["latency_sample_indices"]),
            },
            "seconds": round(time.perf_counter() - progress.started, 1),
        },
    }
    add_probe_to_headline(report)
    write_outputs(workdir, examples, outputs, report)
    result = {"headline": report["headline"], "examples": len(examples)}
    write_result(workdir, result)
    return result


def http_settings(setup: dict) -> dict:
    from training import compare_http

    return compare_http.settings(setup)


def add_probe_to_headline(report: dict) -> None:
    """The probes beside the tool figures: each probed contender's ROUGE-L to the general
    probe's references, and the share of BFCL cases BFCL's rules accept, each with its n."""
    probe = report.get("probe")
    bfcl_figures = (report.get("bfcl_probe") or {}).get("contenders") or {}
    for h in report["headline"]:
        h["probe_n"] = h["probe_rouge_l_to_reference"] = None
        mine = bfcl_figures.get(h["name"]) or {}
        h["bfcl_n"], h["bfcl_accuracy"] = mine.get("n"), mine.get("accuracy")
        if probe and h["name"] in (probe["base"], probe["tuned"]):
            side = "base" if h["name"] == probe["base"] else "tuned"
            h["probe_n"] = probe["drift"]["n"]
            h["probe_rouge_l_to_reference"] = probe["drift"][f"{side}_rouge_l_to_reference"]


def planned_phases(
    contenders: list[dict], examples: list[dict], setup: dict
) -> list[tuple[str, int]]:
    """The phases the comparison will run, in order, with the answers each generates (their
    sum is the progress bar's total): per contender the merge check of an adapter, every
    example, each probe where its answers are not cached, the sample timed alone."""
    plan = []
    for c in contenders:
        plan.append(("load", 0))
        if c.get("adapter"):
            plan.append(
                ("merge_check", len(merge_check_sample(examples, int(setup.get("merge_check", 2)))))
            )
        plan.append(("test", len(examples)))
        for kind, key in PROBES.items():
            if c["name"] in ((setup.get(key) or {}).get("contenders") or []):
                cached = probe_cache_path(setup, c, kind)
                if cached is None or not cached.is_file():
                    plan.append((key, len(probe_items(setup, kind))))
        plan.append(("latency", len(setup["latency_sample_indices"])))
    return plan


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
