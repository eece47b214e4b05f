import subprocess
import sys

import datasets

from curation.formats import hf_datasets, openai_chat, sharegpt
from curation.formats.base import Row
from curation.formats.jsonio import open_text


def test_saves_splits_that_keep_messages_and_tools_exactly(shared_data, tmp_path):
    with open_text(shared_data / "glaive_toolcall_zh_demo.json") as f:
        rows = list(sharegpt.read(f))
    counts = hf_datasets.write_dataset({"train": rows[:250], "test": rows[250:]}, tmp_path / "ds")
    assert counts == {"train": 250, "test": 50}
    loaded = datasets.load_from_disk(str(tmp_path / "ds"))
    assert set(loaded) == {"train", "test"}
    i = next(i for i, row in enumerate(rows[250:]) if row.tools)
    assert [loaded["test"][k] for k in range(50)] == [openai_chat.dump(r) for r in rows[250:]]
    assert list(loaded["test"][i]["tools"][0]["function"]["parameters"]) == list(
        rows[250 + i].tools[0]["function"]["parameters"]
    )


def test_writes_alpaca_text_columns_as_strings(tmp_path):
    hf_datasets.write_dataset(
        {"train": [Row(instruction="问", input="", output="答")]}, tmp_path, fmt="alpaca"
    )
    train = datasets.load_from_disk(str(tmp_path))["train"]
    assert train.features["instruction"] == datasets.Value("string") and train[0]["output"] == "答"


def test_the_registry_does_not_import_datasets():
    code = "import sys, curation.formats; print('datasets' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
