"""The preparation preview: what a run will train on, through the child's own code path.

Rows are read and rendered with training.entry's readers and `encode_train` under the prompt
setup the run's config.json will name (`runs.prompt_setup`: short by default, so no system
prompt and no tool schemas), so what the page shows is what the model gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from training import entry, runs
from training.config import RunConfig
from training.modelload import ModelSource, load_model

BUCKETS = 12


@dataclass
class Span:
    text: str
    trained: bool


@dataclass
class Preview:
    rows: list[list[Span]] = field(default_factory=list)
    prompt: str = ""  # the prompt setup: short / full
    input_ids: list[list[int]] = field(default_factory=list)  # of the rows shown
    labels: list[list[int]] = field(default_factory=list)
    histogram: list[dict] = field(default_factory=list)  # {"start", "end", "count", "height"}
    counts: dict[str, int] = field(default_factory=dict)
    truncated_rows: int = 0
    truncated_tokens_mean: float = 0.0
    max_length: int = 0
    trained_share: float = 0.0
    tokens_mean: float = 0.0


def _tokenizer(source: ModelSource) -> Any:
    _, tokenizer = load_model(source, cache_dir=Path(settings.MODEL_CACHE_DIR))
    return tokenizer


def spans(tokenizer: Any, input_ids: list[int], labels: list[int]) -> list[Span]:
    """Consecutive tokens grouped by whether they count toward the loss."""
    out: list[Span] = []
    start = 0
    for i in range(1, len(input_ids) + 1):
        if i == len(input_ids) or (labels[i] != -100) != (labels[start] != -100):
            text = tokenizer.decode(input_ids[start:i], skip_special_tokens=False)
            out.append(Span(text, labels[start] != -100))
            start = i
    return out


def histogram(lengths: list[int], *, max_length: int, buckets: int = BUCKETS) -> list[dict]:
    if not lengths:
        return []
    top = max(max(lengths), max_length)
    width = max(1, -(-top // buckets))
    counts = [0] * buckets
    for n in lengths:
        counts[min(buckets - 1, n // width)] += 1
    peak = max(counts) or 1
    return [
        {"start": i * width, "end": (i + 1) * width, "count": c, "height": round(100 * c / peak)}
        for i, c in enumerate(counts)
    ]


def preview_run(
    *, project, base_model, snapshot, config: RunConfig, rows: int = 3, limit: int = 500
) -> Preview:
    """Render up to `limit` train rows as the run would; show the first `rows` in full."""
    tokenizer = _tokenizer(ModelSource(**runs.model_source(base_model)))
    setup = {"prompt": runs.prompt_setup(project, config.to_dict())}
    train_rows = [
        row
        for f in runs.snapshot_files(snapshot, "train")
        for row in entry.read_rows(f["path"], sha256=f.get("sha256"))
    ][:limit]
    if config.method == "dpo":
        # DPO trains the chosen answer against the rejected one: show the chosen side.
        train_rows = [
            {"messages": m + c, "tools": t}
            for m, t, c, _ in map(entry.preference_example, train_rows)
        ]
    encoded = entry.encode_train(tokenizer, setup, config, train_rows)
    stats = encoded.stats()
    counts = {
        split: sum(f.get("rows") or 0 for f in runs.snapshot_files(snapshot, split))
        for split in ("train", "test")
    }
    shown = list(zip(encoded.input_ids, encoded.labels, strict=True))[:rows]
    return Preview(
        rows=[spans(tokenizer, ids, labels) for ids, labels in shown],
        prompt=config.prompt,
        input_ids=[ids for ids, _labels in shown],
        labels=[labels for _ids, labels in shown],
        histogram=histogram(encoded.full_lengths, max_length=config.max_length),
        counts=counts,
        truncated_rows=encoded.truncated_rows,
        truncated_tokens_mean=round(encoded.truncated_tokens / encoded.truncated_rows, 1)
        if encoded.truncated_rows
        else 0.0,
        max_length=config.max_length,
        trained_share=round(stats["trained_tokens"] / stats["tokens"], 3) if stats["tokens"] else 0,
        tokens_mean=round(stats["tokens"] / stats["rows"], 1) if stats["rows"] else 0,
    )
