"""Models for the ML-core tests: a tiny random Llama (seconds) and the bundled SmolLM2 (slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from training.modelload import BUNDLED_NAME, load_model, tiny_model

# Tiny models gain nothing from a second thread, and on a shared 2-core machine the OpenMP
# threads of several processes spin against each other (measured: generation 5x slower).
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
# Persistent, git-ignored cache so the bundled GGUF is de-quantised once per checkout.
MODEL_CACHE = Path(os.environ.get("TUNEDESK_TEST_MODEL_CACHE", REPO / "var" / "test-model-cache"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny(tiny_model_dir):
    """(model, tokenizer) of the tiny model, loaded the way drafting loads it."""
    return load_model(str(tiny_model_dir), cache_dir=MODEL_CACHE)


@pytest.fixture(scope="session")
def bundled():
    """(model, tokenizer) of the real SmolLM2-135M-Instruct; only for @pytest.mark.slow tests."""
    return load_model(BUNDLED_NAME, cache_dir=MODEL_CACHE)


SHARED_DATA = REPO.parent / "shared" / "data"


def _openai_messages(conversations: list[dict]) -> list[dict]:
    """ShareGPT turns as OpenAI messages (the curation formats own the real converter)."""
    roles = {"human": "user", "gpt": "assistant", "system": "system", "observation": "tool"}
    messages = []
    for turn in conversations:
        if turn["from"] == "function_call":
            call = json.loads(turn["value"])
            arguments = json.dumps(call["arguments"], ensure_ascii=False)
            function = {"name": call["name"], "arguments": arguments}
            messages.append(
                {"role": "assistant", "content": "", "tool_calls": [{"function": function}]}
            )
        else:
            messages.append({"role": roles[turn["from"]], "content": turn["value"]})
    return messages


@pytest.fixture(scope="session")
def glaive_records() -> list[tuple[list[dict], list[dict]]]:
    """(messages, tools) for each row of the real Glaive tool-calling demo."""
    rows = json.loads((SHARED_DATA / "glaive_toolcall_zh_demo.json").read_text(encoding="utf-8"))
    return [(_openai_messages(r["conversations"]), json.loads(r["tools"])) for r in rows]
