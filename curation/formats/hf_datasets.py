"""Hugging Face `datasets` out, export only: a DatasetDict saved with `save_to_disk`.

Each split's rows are written in one of the JSON formats (`fmt`) and stored column by column:
text columns as strings, anything else as `datasets.Json` so tool schemas and messages keep
their exact keys and order (no struct inference filling absent keys with None).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from .base import FormatError, Row

NAME = "hf_datasets"
CAPABILITIES = ("write_dataset",)


def write_dataset(
    rows_by_split: dict[str, Iterable[Row]],
    directory: str | os.PathLike,
    *,
    fmt: str = "openai_chat",
    dump: Callable[[Row], dict] | None = None,
) -> dict[str, int]:
    """Save the splits to `directory`; returns the row count per split. `dump` writes a row
    (default: the format's own). An empty split is left out: `datasets.load_from_disk` cannot
    read a DatasetDict holding one."""
    import datasets  # heavy (pyarrow, pandas): only when this export runs

    from . import get

    module = get(fmt)
    if not hasattr(module, "dump"):
        raise FormatError(
            0,
            f"the {fmt} format cannot be stored as a dataset",
            hint="choose a JSON format such as openai_chat",
        )
    splits = {}
    for split, rows in rows_by_split.items():
        objs = [(dump or module.dump)(row) for row in rows]
        if not objs:
            continue
        columns = list(dict.fromkeys(key for obj in objs for key in obj))
        features = datasets.Features(
            {
                c: datasets.Value("string")
                if all(type(obj.get(c)) is str for obj in objs)
                else datasets.Json()
                for c in columns
            }
        )
        table = {c: [obj.get(c) for obj in objs] for c in columns}
        splits[split] = datasets.Dataset.from_dict(table, features=features)
    datasets.DatasetDict(splits).save_to_disk(os.fspath(directory))
    return {split: len(ds) for split, ds in splits.items()}
