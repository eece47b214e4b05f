"""Drafting throughput: the same 32 records one at a time, then batched (8 and 16).

    .venv/bin/python benchmarks/generation.py [--records 32] [--max-new-tokens 64] [--dtype bf16]

Uses the bundled SmolLM2-135M-Instruct on the CPU through Tunedesk's own code
(prompting.render_prompt + generation.generate_batch), greedy. The records are the first user
turns of the Glaive tool-calling demo with their tools, in file order. Prints the first-load
(GGUF -> safetensors) and cached-load times, tokens/s for each batch size, the
batched/sequential ratio and whether the greedy outputs were identical to batch 1, with the
load average before and after (the figures mean little on a busy machine), and the ceiling
batching can reach here (timed prefill, alone and packed, and decode steps). `--workload
demo` drafts the demo project as a drafting job renders it instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.generation import generate_batch  # noqa: E402
from training.modelload import BUNDLED_NAME, load_model  # noqa: E402
from training.prompting import PromptSpec, render_prompt  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "glaive_toolcall_zh_demo.json"
SYSTEM = "You are a helpful assistant. Call a tool when one fits the request."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--workload",
        choices=["glaive", "demo"],
        default="glaive",
        help="glaive: the Glaive records with their own tools; demo: the demo project's "
        "records with its system prompt and tools, as a drafting job renders them",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--dtype", choices=["fp32", "bf16"], default="fp32", help="weights for the timed runs"
    )
    parser.add_argument("--skip-load", action="store_true", help="do not time the GGUF conversion")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "test-model-cache")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(_load_average())

    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir if args.skip_load else Path(tmp)
        if not args.skip_load:
            started = time.perf_counter()
            load_model(BUNDLED_NAME, cache_dir=cache)
            print(f"first load (GGUF -> safetensors cache): {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        model, tokenizer = load_model(BUNDLED_NAME, cache_dir=cache)
        print(f"cached load: {time.perf_counter() - started:.2f} s")
        if args.dtype == "bf16":
            model = model.to(torch.bfloat16)
            print("weights cast to bf16 for the timed runs")
        run(model, tokenizer, args)
    print(_load_average())


def _load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def prompts_for(tokenizer, args: argparse.Namespace) -> list[str]:
    if args.workload == "demo":
        # What a drafting job renders for the demo project: its system prompt and tool
        # schemas (prompt_setups "full"), then the request; the same prefix for every record.
        from curation import demo_data

        spec = PromptSpec(system_prompt=demo_data.SYSTEM_PROMPT, tools=demo_data.TOOLS)
        rows = demo_data.generate(seed=0, n=args.records)
        return [render_prompt(tokenizer, spec, row["messages"][:1]) for row in rows]
    rows = json.loads(args.data.read_text(encoding="utf-8"))[: args.records]
    spec = PromptSpec(system_prompt=SYSTEM)
    return [
        render_prompt(
            tokenizer,
            spec,
            [{"role": "user", "content": row["conversations"][0]["value"]}],
            tools=json.loads(row["tools"]),
        )
        for row in rows
    ]


def run(model, tokenizer, args: argparse.Namespace) -> None:
    prompts = prompts_for(tokenizer, args)
    print(f"workload: {args.workload}")
    lengths = [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    print(
        f"{len(prompts)} records, prompt tokens min/mean/max "
        f"{min(lengths)}/{sum(lengths) / len(lengths):.0f}/{max(lengths)}, "
        f"max_new_tokens {args.max_new_tokens}"
    )
    generate_batch(model, tokenizer, prompts[:1], max_new_tokens=2)  # warm-up

    runs = {}
    for batch_size in [1, *args.batch_sizes]:
        started = time.perf_counter()
        out = generate_batch(
            model, tokenizer, prompts, max_new_tokens=args.max_new_tokens, batch_size=batch_size
        )
        seconds = time.perf_counter() - started
        tokens = sum(g.completion_tokens for g in out)
        runs[batch_size] = (out, seconds, tokens)
        print(
            f"batch {batch_size:>2}: {tokens} tokens in {seconds:.1f} s "
            f"= {tokens / seconds:.1f} tok/s"
        )

    base_out, base_s, base_tokens = runs[1]
    for batch_size in args.batch_sizes:
        out, seconds, tokens = runs[batch_size]
        ratio = (tokens / seconds) / (base_tokens / base_s)
        differing = [
            i for i, (a, b) in enumerate(zip(base_out, out, strict=True)) if a.text != b.text
        ]
        same = "identical" if not differing else f"{len(differing)} differ (records {differing})"
        print(f"batch {batch_size:>2} / sequential: {ratio:.2f}x, greedy outputs {same}")
        for i in differing:
            explain(model, tokenizer, prompts[i], base_out[i].text, out[i].text, i)
    ceiling(model, tokenizer, prompts, base_tokens / len(prompts), args.batch_sizes)


def ceiling(model, tokenizer, prompts: list[str], new_tokens: float, batch_sizes: list[int]):
    """The best ratio batching can reach on this machine for this workload.

    Each record costs one prefill of its prompt plus one decode step per new token. Batching
    shares the decode steps, and prompts prefilled together (packed) cost less each: a record
    costs prefill(1) + n * step(1) alone and prefill(B) + n * step(B) / B in a batch of B, at
    best (when B prompts always join the batch together). Prefill is timed on this workload's
    prompts in generate_batch's order (so shared prefixes count), steps on its first prompts.
    """
    import torch

    from training.generation import _join, _prefill

    encoded = sorted(tokenizer(p, add_special_tokens=False).input_ids for p in prompts)

    def timed(call, repeat: int = 5) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    def prefill_all(size: int) -> None:
        previous = None
        for start in range(0, len(encoded), size):
            pack = encoded[start : start + size]
            previous = (pack[-1], _prefill(pack, model, previous)[-1][1])

    with torch.inference_mode():
        prefill = {
            size: timed(lambda size=size: prefill_all(size), 1) / len(encoded)
            for size in [1, *batch_sizes]
        }
        steps = {}
        for size in [1, *batch_sizes]:
            first = (encoded * size)[:size]
            cache, _ = _join(None, None, [k for _, k in _prefill(first, model, None)], 8, model)
            at = [max(map(len, first))]

            def step(size=size, cache=cache, at=at) -> None:
                model(
                    input_ids=torch.randint(100, 1000, (size, 1)),
                    position_ids=torch.full((size, 1), at[0]),
                    cache=cache,
                    logits_to_keep=1,
                )
                at[0] += 1

            steps[size] = timed(step)
    alone = prefill[1] + new_tokens * steps[1]
    print(
        "ceiling: prefill per prompt "
        + ", ".join(
            f"{prefill[b] * 1000:.0f} ms" + (" alone" if b == 1 else f" in packs of {b}")
            for b in prefill
        )
        + "; decode step "
        + ", ".join(f"{steps[b] * 1000:.0f} ms at batch {b}" for b in steps)
    )
    for size in batch_sizes:
        best = alone / (prefill[size] + new_tokens * steps[size] / size)
        print(f"ceiling at batch {size:>2}: {best:.2f}x ({new_tokens:.0f} new tokens per record)")


def explain(model, tokenizer, prompt: str, one: str, batched: str, index: int) -> None:
    """Where two greedy outputs part, and how close the batch-1 logits were to a tie there."""
    import torch

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False).input_ids

    a, b = ids(one), ids(batched)
    k = next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    with torch.inference_mode():
        logits = model(torch.tensor([ids(prompt) + a[:k]])).logits[0, -1]
    top = torch.topk(logits, 2).values
    print(
        f"  record {index}: parts at token {k}; batch-1 top-2 logit gap there "
        f"{(top[0] - top[1]).item():.2e}"
    )


if __name__ == "__main__":
    main()
