import pytest

from curation.formats import FORMATS
from curation.formats.base import FormatError
from curation.formats.llama_factory import dataset_info_entry


def test_entries_match_llama_factorys_own_for_the_demo_files():
    # The entries LLaMA-Factory ships in data/dataset_info.json for these three files.
    assert dataset_info_entry("alpaca", "alpaca_zh_demo.json") == {
        "file_name": "alpaca_zh_demo.json",
        "formatting": "alpaca",
        "columns": {"prompt": "instruction", "response": "output", "query": "input"},
    }
    assert dataset_info_entry(
        "sharegpt", "glaive_toolcall_zh_demo.json", keys={"conversations", "tools"}
    ) == {
        "file_name": "glaive_toolcall_zh_demo.json",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "tools": "tools"},
    }
    assert dataset_info_entry(
        "sharegpt", "dpo_zh_demo.json", keys={"conversations", "chosen", "rejected"}
    ) == {
        "file_name": "dpo_zh_demo.json",
        "formatting": "sharegpt",
        "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
    }


def test_optional_columns_appear_only_when_the_file_has_them():
    entry = dataset_info_entry(
        "alpaca", "a.jsonl", keys={"instruction", "output", "system", "history"}
    )
    assert entry["columns"] == {
        "prompt": "instruction",
        "response": "output",
        "system": "system",
        "history": "history",
    }


def test_role_content_files_get_tags():
    entry = dataset_info_entry("sharegpt_messages", "m.jsonl")
    assert entry["tags"]["role_tag"] == "role" and entry["tags"]["function_tag"] == "function_call"
    assert dataset_info_entry("messages_preference", "p.jsonl")["ranking"] is True


@pytest.mark.parametrize("name", ["openai_dpo", "csv", "hf_datasets"])
def test_formats_llama_factory_cannot_read_are_refused(name):
    assert name in FORMATS
    with pytest.raises(FormatError, match=f"LLaMA-Factory cannot read {name} files"):
        dataset_info_entry(name, "x")
