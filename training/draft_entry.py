"""Child process that drafts answers: `python -m training.draft_entry job.json`.

The job file (JSON):
  model       {"name", "kind": bundled|gguf|local|hub, "source"} or a plain string
  endpoint    instead of model, an OpenAI-compatible server: {"base_url", "model",
              "api_key_env", "native_tools"}; records go one request each
  cache_dir   where converted models are cached
  output_dir  where outputs.jsonl and progress.jsonl go (default: the job file's folder)
  prompt      PromptSpec fields: system_prompt, tools, template, few_shot, tool_style, mode
  records     [{"id", "messages", "tools"?}]; messages end before the answer to draft
  settings    {"max_new_tokens": 256, "temperature": 0.0, "batch_size": 16, "stop": null,
               "dtype": "auto", "seed": null, "threads": null}
              dtype "auto": bfloat16 on a GPU that computes it, float32 on the CPU
              (training.modelload.placement); the log says which device and dtype ran

outputs.jsonl gets one line per record, written the moment its draft is done:
  {"id", "text", "parsed", "prompt", "prompt_tokens", "completion_tokens", "latency_ms",
   "finish_reason"}
progress.jsonl gets {"done", "total", "tokens_per_s", "eta_s", "elapsed_s"} after loading
(done 0) and after each draft. Records already in outputs.jsonl are skipped, so a rerun after
a crash continues. On failure the error goes to stderr and the exit status is non-zero.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from jobs.progress import ProgressWriter
from training.generation import Generation, generate_batch
from training.modelload import ModelSource, load_model, placement
from training.parsing import parse_output
from training.prompting import PromptSpec, endpoint_request, merge_tools, render_prompt

DEFAULTS = {"max_new_tokens": 256, "temperature": 0.0, "batch_size": 16, "stop": None}
DEFAULTS |= {"dtype": "auto", "seed": None, "threads": None}


def run(job: dict, *, job_dir: Path) -> int:
    """Draft every record of the job; return how many were drafted now."""
    settings = DEFAULTS | (job.get("settings") or {})
    out_dir = Path(job.get("output_dir") or job_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs, progress = out_dir / "outputs.jsonl", ProgressWriter(out_dir)
    done_ids = _done_ids(outputs)
    records = [r for r in job["records"] if r["id"] not in done_ids]
    total, done = len(job["records"]), len(job["records"]) - len(records)

    if job.get("endpoint"):
        return _run_http(job, settings, records, done, total, outputs, progress)
    if settings["threads"]:
        import torch

        torch.set_num_threads(int(settings["threads"]))
    model_source = job["model"]
    source = ModelSource(**model_source) if isinstance(model_source, dict) else model_source
    where = placement(settings["dtype"], cpu_auto="float32")
    print(f"Drafting on {where.describe()}.", flush=True)
    model, tokenizer = load_model(
        source, cache_dir=Path(job["cache_dir"]), dtype=where.dtype, device=where.device
    )
    spec = PromptSpec.from_dict(job.get("prompt") or {})
    prompts = {
        r["id"]: render_prompt(tokenizer, spec, r["messages"], tools=r.get("tools"))
        for r in records
    }
    started, generated, drafted = time.perf_counter(), 0, 0
    progress.write(**_progress(done, total, generated, 0.0, len(records)))

    def save(index: int, gen: Generation) -> None:
        # One generate_batch call over every record keeps the batch full (a finished row's
        # place goes to the next record); each draft is saved the moment it is done, so a
        # cancelled or killed job keeps it and a rerun resumes after it.
        nonlocal generated, drafted
        record = records[index]
        offered = merge_tools(spec.tools, record.get("tools"))
        parsed = parse_output(gen.text, tools=offered or None)
        line = {
            "id": record["id"],
            "text": gen.text,
            "parsed": parsed.to_dict(),
            "prompt": prompts[record["id"]],
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "latency_ms": round(gen.latency_s * 1000, 1),
            "finish_reason": gen.finish_reason,
        }
        generated += gen.completion_tokens
        drafted += 1
        elapsed = time.perf_counter() - started
        _append(outputs, line)
        progress.write(
            **_progress(done + drafted, total, generated, elapsed, len(records) - drafted, drafted)
        )

    generate_batch(
        model,
        tokenizer,
        [prompts[r["id"]] for r in records],
        max_new_tokens=int(settings["max_new_tokens"]),
        temperature=float(settings["temperature"]),
        batch_size=int(settings["batch_size"]),
        stop=settings["stop"],
        seed=settings["seed"],
        on_done=save,
    )
    return len(records)


def _run_http(
    job: dict,
    settings: dict,
    records: list[dict],
    done: int,
    total: int,
    outputs: Path,
    progress: ProgressWriter,
) -> int:
    from training.backends import Endpoint, chat

    endpoint = Endpoint(**job["endpoint"])
    spec = PromptSpec.from_dict(job.get("prompt") or {})
    started, generated = time.perf_counter(), 0
    progress.write(**_progress(done, total, generated, 0.0, len(records)))
    for n, record in enumerate(records, 1):
        offered = merge_tools(spec.tools, record.get("tools"))
        # The server renders its own template (prompting.endpoint_request says how).
        messages, tools = endpoint_request(
            spec,
            messages=record["messages"],
            tools=record.get("tools"),
            native_tools=endpoint.native_tools,
        )
        response, latency = chat(
            endpoint,
            messages,
            tools=tools,
            max_tokens=int(settings["max_new_tokens"]),
            temperature=float(settings["temperature"]),
        )
        choice = response["choices"][0]
        message, usage = choice.get("message") or {}, response.get("usage") or {}
        parsed = parse_output(
            message.get("content"), tool_calls=message.get("tool_calls"), tools=offered or None
        )
        generated += usage.get("completion_tokens") or 0
        line = {
            "id": record["id"],
            "text": message.get("content") or "",
            "parsed": parsed.to_dict(),
            "prompt": json.dumps(messages, ensure_ascii=False),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "latency_ms": round(latency * 1000, 1),
            "finish_reason": choice.get("finish_reason"),
        }
        _append(outputs, line)
        elapsed = time.perf_counter() - started
        progress.write(**_progress(done + n, total, generated, elapsed, len(records) - n, n))
    return len(records)


def _progress(
    done: int, total: int, tokens: int, elapsed: float, remaining: int, drafted_now: int = 0
) -> dict:
    rate = tokens / elapsed if elapsed > 0 else None
    eta = elapsed / drafted_now * remaining if drafted_now else None
    return {
        "done": done,
        "total": total,
        "tokens_per_s": round(rate, 1) if rate is not None else None,
        "eta_s": round(eta, 1) if eta is not None else None,
        "elapsed_s": round(elapsed, 1),
    }


def _done_ids(outputs: Path) -> set[Any]:
    """Ids already drafted; a last line cut short by a kill mid-write is removed."""
    if not outputs.exists():
        return set()
    data = outputs.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        outputs.write_bytes(data)
    return {json.loads(line)["id"] for line in data.decode("utf-8").splitlines() if line}


def _append(path: Path, *objects: dict) -> None:
    with path.open("a", encoding="utf-8") as f:
        for obj in objects:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        f.flush()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m training.draft_entry JOB.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
        run(job, job_dir=path.parent)
    except Exception as exc:  # noqa: BLE001 - the parent reads stderr and the exit status
        traceback.print_exc(file=sys.stderr)
        print(f"draft failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
