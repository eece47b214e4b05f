"""LoRA SFT speed: Tunedesk's training child against this CPU's measured ceiling (and a peer).

What it runs, on the bundled SmolLM2-135M, LoRA r=16 alpha=32 on all linear layers, batch 4,
lr 1e-4, one epoch, seed 0, the run defaults otherwise (lora_dropout included):

- workload `alpaca`: the first 64 rows of ../shared/data/alpaca_zh_demo.json, max length 256;
- workload `tools`: the demo project's tool-calling rows (curation.demo_data, seed 0) with its
  long prompt (system prompt + the eight tool schemas, ~2,030 shared tokens, short answers),
  max length 4096 so no row is cut.

For each workload and precision it prints rows/s, real tokens/s, the model FLOPs of the work
(forward + backward of the frozen base: 2 FLOPs per weight forward, 2 more for the input
gradient, none for weight gradients; LoRA 6 per weight; causal attention; the LM head only on
the positions whose label is trained) and the share of this CPU's peak that the loop reaches,
the peak being the best of a matmul microbenchmark at the model's own shapes (576x1536,
576x576, 1536x576, 576x49152, the LoRA r=16 shapes), fp32 and bf16, measured in the same run.

    .venv/bin/python benchmarks/training.py [--workload alpaca,tools] [--precision fp32,bf16]
        [--rows N] [--tool-rows N] [--profile | --profile-only] [--peer llamafactory]
        [--set key=value ...]

--profile adds a torch.profiler breakdown of one epoch by kind of work (run in this process
  through the same child code). --set overrides a RunConfig field for Tunedesk (e.g.
  --set packing=false, to measure a lever). --peer llamafactory builds LLaMA-Factory in its
  own venv outside the project (TUNEDESK_LF_VENV, default /work/lf-venv; torch 2.13.0 from the
  wheel on disk first, so no CUDA build is pulled) and runs the same rows there, printing the
  rows/s ratio. Quote `uptime` with every figure: this machine is shared.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curation import demo_data  # noqa: E402  (pure: no Django)
from training import entry  # noqa: E402
from training.config import RunConfig  # noqa: E402
from training.modelload import BUNDLED_NAME, ModelSource, load_model  # noqa: E402
from training.prompting import PromptSpec  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CACHE = REPO / "var" / "models"
LF_VENV = Path(os.environ.get("TUNEDESK_LF_VENV", "/work/lf-venv"))
LF_VERSION = "0.9.3"
SETTINGS = {"lora_rank": 16, "lora_alpha": 32, "batch_size": 4, "learning_rate": 1e-4}
SETTINGS |= {"epochs": 1, "seed": 0, "eval_max_rows": 0}
MAX_LENGTH = {"alpaca": 256, "tools": 4096}
TOOL_PROMPT = {"system_prompt": demo_data.SYSTEM_PROMPT, "tools": demo_data.TOOLS}


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- workloads ------------------------------------------------------------------------------


def workload(name: str, count: int) -> tuple[list[dict], dict]:
    """(rows, prompt spec dict) of a workload."""
    if name == "alpaca":
        items = json.loads((DATA / "alpaca_zh_demo.json").read_text(encoding="utf-8"))
        rows = [
            {"instruction": r["instruction"], "input": r["input"], "output": r["output"]}
            for r in items[:count]
        ]
        return rows, {}
    return demo_data.generate(seed=0, n=count), dict(TOOL_PROMPT)


# --- FLOPs ----------------------------------------------------------------------------------


def linear_shapes(config) -> list[tuple[int, int]]:
    """(in, out) of every linear layer of one decoder layer (Llama-style)."""
    d, ff = config.hidden_size, config.intermediate_size
    head = getattr(config, "head_dim", None) or d // config.num_attention_heads
    q = config.num_attention_heads * head
    kv = config.num_key_value_heads * head
    return [(d, q), (d, kv), (d, kv), (q, d), (d, ff), (d, ff), (ff, d)]


def work_flops(config, lengths: list[int], head_tokens: int, rank: int) -> dict:
    """Model FLOPs of one pass (forward + backward) over rows of `lengths`, the LM head on
    `head_tokens` positions, for a frozen base with LoRA rank `rank` on every linear layer."""
    layers = config.num_hidden_layers
    shapes = linear_shapes(config)
    base = sum(i * o for i, o in shapes) * layers
    lora = sum(rank * (i + o) for i, o in shapes) * layers
    tokens = sum(lengths)
    q = config.num_attention_heads * (
        getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    )
    # QK^T and AV over the causal half: 2 matmuls x 2 FLOPs x q x L(L+1)/2; backward 2x.
    attention = sum(3 * 2 * 2 * q * n * (n + 1) / 2 for n in lengths) * layers
    out = {
        "base": 4 * base * tokens,  # forward 2/weight + input gradient 2/weight
        "lora": 6 * lora * tokens,  # forward 2 + input gradient 2 + weight gradient 2
        "attention": attention,
        "lm_head": 4 * config.hidden_size * config.vocab_size * head_tokens,
    }
    out["total"] = sum(out.values())
    return out


def executed_flops(config, encoded, rank: int, head_tokens: int) -> float:
    """FLOPs the packed loop actually executes on one epoch's batches: a batch's shared
    prefix once, each row's own tokens attending to the prefix and causally to themselves."""
    total = 0.0
    for batch in entry.length_grouped_batches(encoded.lengths, SETTINGS["batch_size"], seed=0):
        made = entry.pack(encoded, batch)
        own = [end - start for start, end in made.spans]
        # linear layers: every computed token once; attention: prefix causal, then each
        # row's block over the prefix (a rectangle) and itself (causal)
        linear = work_flops(config, [made.computed], 0, rank)
        total += linear["base"] + linear["lora"]
        if made.prefix:
            total += work_flops(config, [made.prefix], 0, rank)["attention"]
        for n in own:
            causal = work_flops(config, [n], 0, rank)["attention"]
            rectangle = causal / (n * (n + 1) / 2) * n * made.prefix
            total += causal + rectangle
    return total + work_flops(config, [], head_tokens, rank)["lm_head"]


# --- the ceiling ----------------------------------------------------------------------------


def microbenchmark(tokens: int, rank: int) -> list[dict]:
    """GFLOP/s of x @ W at the model's own shapes, fp32 and bf16, with this process's threads."""
    import torch

    shapes = [(576, 1536), (576, 576), (1536, 576), (576, 49152), (576, rank), (rank, 1536)]
    out = []
    for k, n in shapes:
        m = tokens if n != 49152 else tokens // 2
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            for _ in range(2):
                a @ b
            reps, started = 0, time.perf_counter()
            while reps < 3 or time.perf_counter() - started < 0.5:
                a @ b
                reps += 1
            seconds = (time.perf_counter() - started) / reps
            name = "fp32" if dtype == torch.float32 else "bf16"
            out.append({"shape": f"{m}x{k} @ {k}x{n}", "dtype": name})
            out[-1]["gflops"] = 2 * m * k * n / seconds / 1e9
    return out


# --- Tunedesk -------------------------------------------------------------------------------


def config_for(rows_path: Path, spec: dict, precision: str, name: str, extra: dict) -> dict:
    return {
        "config": SETTINGS | {"precision": precision, "max_length": MAX_LENGTH[name]} | extra,
        "model": {"name": BUNDLED_NAME, "kind": "bundled", "source": ""},
        "cache_dir": str(CACHE),
        "prompt": spec,
        "data": {"train": [{"path": str(rows_path)}], "test": []},
        "output_dir": str(rows_path.parent / "out"),
    }


def write_rows(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def tunedesk(rows: list[dict], spec: dict, precision: str, name: str, tmp: Path, extra) -> dict:
    """One run of the real training child in its own process."""
    work = tmp / f"tunedesk-{name}-{precision}"
    data = write_rows(rows, work / "train.jsonl")
    (work / "config.json").write_text(json.dumps(config_for(data, spec, precision, name, extra)))
    completed = subprocess.run(
        [sys.executable, "-m", "training.entry", str(work / "config.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        raise SystemExit(f"the training child failed:\n{completed.stderr[-3000:]}")
    return json.loads((work / "result.json").read_text())


def profile(rows: list[dict], spec: dict, precision: str, name: str, tmp: Path, extra) -> None:
    """torch.profiler over one epoch of the same child code, by kind of work."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    work = tmp / f"profile-{name}-{precision}"
    data = write_rows(rows, work / "train.jsonl")
    (work / "config.json").write_text(json.dumps(config_for(data, spec, precision, name, extra)))
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        result = entry.run(work / "config.json")
    kinds: dict[str, float] = defaultdict(float)
    for event in prof.events():
        chain, parent = [], event.cpu_parent
        while parent is not None:
            chain.append(parent.name)
            parent = parent.cpu_parent
        if not any(n == entry.STEP_LABEL for n in chain):
            continue  # model load, tokenisation, save: not the loop
        kinds[kind_of(event, chain, extra.get("lora_rank", 16))] += event.self_cpu_time_total
    total = sum(kinds.values())
    loop = result["train_seconds"] * 1e6
    print(f"  profile of one epoch ({precision}, {name}; loop {result['train_seconds']:.1f} s")
    print(f"  under the profiler, which slows it; shares of profiled op time), {load()}:")
    for kind, micros in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"    {kind:34} {micros / 1e6:8.2f} s  {100 * micros / total:5.1f} %")
    print(f"    {'(loop time outside any op)':34} {max(0.0, loop - total) / 1e6:8.2f} s")


MATMULS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def kind_of(event, chain: list[str], rank: int) -> str:
    name = event.name
    labels = set(chain) | {name}
    if any(n.startswith("Optimizer.") or n == "optimizer" for n in labels):
        return "optimizer (AdamW, zero_grad)"
    if "collate" in labels:
        return "data collation"
    if "lm_head_and_loss" in labels:
        return "LM head and loss"
    if "attention" in name or "softmax" in name and "log_softmax" not in name:
        return "attention"
    if name in MATMULS:
        shapes = [s for s in event.input_shapes if s]
        dims = {d for s in shapes for d in s}
        if any(len(s) > 2 for s in shapes):
            return "attention"
        if 49152 in dims:
            return "LM head and loss"
        if rank in dims:
            return "LoRA matmuls"
        return "base matmuls"
    if "cross_entropy" in name or "nll_loss" in name or "log_softmax" in name:
        return "LM head and loss"
    return "norms, activations, elementwise"


# --- LLaMA-Factory --------------------------------------------------------------------------


def lf_venv() -> Path:
    """LLaMA-Factory in its own venv outside the project: a benchmark aid, not a dependency."""
    cli = LF_VENV / "bin" / "llamafactory-cli"
    if cli.is_file():
        return cli
    wheels = sorted(glob.glob("/opt/wheels/torch-2.13.0*.whl"))
    if not wheels:
        raise SystemExit(
            "No torch 2.13.0 wheel in /opt/wheels: install torch==2.13.0 (CPU build) into "
            f"{LF_VENV} by hand first, so pip does not pull a CUDA build."
        )
    print(f"building LLaMA-Factory {LF_VERSION} in {LF_VENV} (minutes) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(LF_VENV)], check=True)
    pip = [str(LF_VENV / "bin" / "pip"), "install", "-q"]
    subprocess.run(pip + [wheels[0]], check=True)
    # its numpy<2 pin and the newest pyarrow (numpy 2 only) do not go together
    subprocess.run(pip + [f"llamafactory=={LF_VERSION}", "pyarrow<20"], check=True)
    return cli


def lf_model_dir(tmp: Path) -> Path:
    """The bundled model's cache as transformers 4.x reads it (rope_theta, torch_dtype, the
    tokenizer class)."""
    load_model(ModelSource(BUNDLED_NAME, "bundled"), cache_dir=CACHE)  # make sure it is cached
    source = CACHE / BUNDLED_NAME
    target = tmp / "lf-model"
    target.mkdir(exist_ok=True)
    rewritten = ("config.json", "tokenizer_config.json")
    for path in source.iterdir():
        if path.name not in rewritten and not (target / path.name).exists():
            (target / path.name).symlink_to(path)
    tokenizer = json.loads((source / "tokenizer_config.json").read_text())
    tokenizer["tokenizer_class"] = "PreTrainedTokenizerFast"  # 5.x writes TokenizersBackend
    (target / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    config = json.loads((source / "config.json").read_text())
    rope = config.get("rope_parameters") or {}
    config.setdefault("rope_theta", rope.get("rope_theta", 10000.0))
    config.setdefault("torch_dtype", "float32")
    (target / "config.json").write_text(json.dumps(config))
    return target


def lf_rows(name: str, rows: list[dict]) -> tuple[list[dict], dict]:
    if name == "alpaca":
        return rows, {}
    out = []
    for row in rows:
        turns = []
        for m in row["messages"]:
            if m.get("tool_calls"):
                call = m["tool_calls"][0]["function"]
                arguments = call["arguments"]
                if isinstance(arguments, str):
                    arguments = json.loads(arguments)
                value = json.dumps(
                    {"name": call["name"], "arguments": arguments}, ensure_ascii=False
                )
                turns.append({"from": "function_call", "value": value})
            else:
                turns.append(
                    {"from": "human" if m["role"] == "user" else "gpt", "value": m["content"]}
                )
        out.append(
            {
                "conversations": turns,
                "system": demo_data.SYSTEM_PROMPT,
                "tools": json.dumps(demo_data.TOOLS, ensure_ascii=False),
            }
        )
    columns = {"messages": "conversations", "system": "system", "tools": "tools"}
    return out, {"formatting": "sharegpt", "columns": columns}


def llamafactory(rows: list[dict], name: str, precision: str, tmp: Path, dropout: float) -> dict:
    cli = lf_venv()
    work = tmp / f"lf-{name}-{precision}"
    work.mkdir(parents=True, exist_ok=True)
    items, info = lf_rows(name, rows)
    (work / "bench.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    (work / "dataset_info.json").write_text(
        json.dumps({"bench": {"file_name": "bench.json"} | info})
    )
    settings = {
        "model_name_or_path": str(lf_model_dir(tmp)),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": 16,
        "lora_alpha": 32,
        "lora_dropout": dropout,
        "lora_target": "all",
        "dataset": "bench",
        "dataset_dir": str(work),
        "template": "smollm",  # ChatML without a default system prompt, as Tunedesk renders
        "cutoff_len": MAX_LENGTH[name],
        "overwrite_cache": True,
        "output_dir": str(work / "out"),
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1e-4,
        "num_train_epochs": 1,
        "warmup_ratio": 0.05,
        "bf16": precision == "bf16",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
        "use_cpu": True,
        "include_num_input_tokens_seen": True,
        "dataloader_num_workers": 0,
    }
    (work / "train.json").write_text(json.dumps(settings))
    env = os.environ | {"DISABLE_VERSION_CHECK": "1", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(
        [str(cli), "train", str(work / "train.json")], capture_output=True, text=True, env=env
    )
    if completed.returncode:
        raise SystemExit(f"LLaMA-Factory failed:\n{completed.stderr[-3000:]}")
    results = json.loads((work / "out" / "all_results.json").read_text())
    state = json.loads((work / "out" / "trainer_state.json").read_text())
    seen = [
        h["num_input_tokens_seen"] for h in state["log_history"] if "num_input_tokens_seen" in h
    ]
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    seconds = results["train_runtime"]
    return {
        "train_seconds": seconds,
        "rows_per_second": len(rows) / seconds,
        "tokens_per_second": (max(seen) / seconds) if seen else None,
        "train_loss": results.get("train_loss", sum(losses) / max(1, len(losses))),
    }


# --- main -----------------------------------------------------------------------------------


def parse_set(values: list[str]) -> dict:
    out = {}
    for item in values:
        key, _, value = item.partition("=")
        out[key] = (
            json.loads(value) if re.match(r"^[\d.\-e]+$|^(true|false|null)$", value) else value
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="alpaca,tools")
    parser.add_argument("--precision", default="fp32,bf16")
    parser.add_argument("--rows", type=int, default=64, help="alpaca rows")
    parser.add_argument("--tool-rows", type=int, default=16, help="tool-calling rows")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-only", action="store_true", help="the profile, no timed run")
    parser.add_argument("--peer", choices=["llamafactory"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    extra = parse_set(args.set)
    RunConfig.from_dict(SETTINGS | extra)  # a wrong --set fails here, not in the child
    dropout = extra.get("lora_dropout", RunConfig().lora_dropout)
    import torch

    model, tokenizer = load_model(ModelSource(BUNDLED_NAME, "bundled"), cache_dir=CACHE)
    config = model.config
    print(f"SmolLM2-135M, LoRA r16/a32 all linear, batch 4, lr 1e-4, 1 epoch, dropout {dropout}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    print(f"{load()}  (at start)")
    bench = microbenchmark(1024, 16)
    peak = {d: max(b["gflops"] for b in bench if b["dtype"] == d) for d in ("fp32", "bf16")}
    print("matmul microbenchmark at the model's shapes (GFLOP/s):")
    for b in bench:
        print(f"  {b['dtype']}  {b['shape']:24} {b['gflops']:8.1f}")
    print(f"  peak fp32 {peak['fp32']:.1f}, bf16 {peak['bf16']:.1f} GFLOP/s   {load()}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.workload.split(","):
            rows, spec = workload(name, args.rows if name == "alpaca" else args.tool_rows)
            encoded = entry.encode_sft(
                tokenizer, PromptSpec.from_dict(spec), rows, max_length=MAX_LENGTH[name]
            )
            lengths = encoded.lengths
            # the LM head runs where the label (the next token) is trained
            trained = sum(sum(1 for t in lab[1:] if t != -100) for lab in encoded.labels)
            flops = work_flops(config, lengths, trained, 16)
            tokens = sum(lengths)
            print(
                f"\n== {name}: {len(rows)} rows, {tokens} tokens ({tokens / len(rows):.0f}/row),"
                f" {trained} trained, max length {MAX_LENGTH[name]}"
            )
            per = {k: round(v / tokens / 1e6) for k, v in flops.items()}
            print(
                f"  model FLOPs per token {per['total']} M (base {per['base']}, LoRA"
                f" {per['lora']}, attention {per['attention']}, LM head {per['lm_head']});"
                f" {flops['total'] / 1e12:.2f} TFLOP per epoch"
            )
            for precision in args.precision.split(","):
                if args.profile_only:
                    profile(rows, spec, precision, name, tmp, extra)
                    continue
                result = tunedesk(rows, spec, precision, name, tmp, extra)
                seconds = result["train_seconds"]
                achieved = flops["total"] / seconds / 1e9
                print(
                    f"  {precision:5} tunedesk   {seconds:7.1f} s  {result['rows_per_second']:6.3f}"
                    f" rows/s  {result['tokens_per_second']:6.1f} real tok/s"
                    f"  {achieved:6.1f} GFLOP/s = {100 * achieved / peak[precision]:4.1f} % of"
                    f" {precision} peak  loss {result['train_loss']:.4f}"
                    f"  (wall {result['wall_seconds']:.0f} s, peak RSS {result['peak_rss_mb']:.0f}"
                    f" MB, loop CPU {result['train_cpu_seconds']:.0f} s)  {load()}"
                )
                if result.get("packing") and result["computed_tokens"] < tokens:
                    done = executed_flops(config, encoded, 16, trained) / seconds / 1e9
                    print(
                        f"        the loop computed {result['computed_tokens']} of {tokens} tokens"
                        f" (shared prefixes once per batch): {done:.1f} GFLOP/s executed ="
                        f" {100 * done / peak[precision]:.1f} % of peak"
                    )
                if args.peer:
                    peer = llamafactory(rows, name, precision, tmp, dropout)
                    tok = peer["tokens_per_second"]
                    print(
                        f"  {precision:5} LLaMA-F.   {peer['train_seconds']:7.1f} s"
                        f"  {peer['rows_per_second']:6.3f} rows/s"
                        f"  {tok or 0:6.1f} tok/s (its own template)"
                        f"  loss {peer['train_loss']:.4f}  {load()}"
                    )
                    ratio = result["rows_per_second"] / peer["rows_per_second"]
                    print(f"  {precision:5} tunedesk / LLaMA-Factory rows/s = {ratio:.2f}x")
                if args.profile:
                    profile(rows, spec, precision, name, tmp, extra)


if __name__ == "__main__":
    main()
