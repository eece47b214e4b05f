"""Answer OpenAI-style chat requests with a local model (optionally with a LoRA adapter).

Used by Tunedesk's own `/v1/chat/completions`. A process keeps the few models it served last
(loading the bundled model from its cache takes about a second, generating takes longer),
and serves one request at a time per model, since a CPU has no spare cores for two.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.modelload import ModelSource, load_model
from training.prompting import PromptSpec, build_messages, render_prompt

KEEP_MODELS = 2


@dataclass(frozen=True)
class Served:
    """What one model id of the endpoint stands for."""

    id: str
    source: ModelSource
    adapter: str = ""


class ModelPool:
    def __init__(self, *, cache_dir: Path, keep: int = KEEP_MODELS) -> None:
        self.cache_dir = cache_dir
        self.keep = keep
        self._models: OrderedDict[Served, tuple[Any, Any, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, served: Served) -> tuple[Any, Any, threading.Lock]:
        with self._lock:
            if served in self._models:
                self._models.move_to_end(served)
                return self._models[served]
            model, tokenizer = load_model(served.source, cache_dir=self.cache_dir)
            if served.adapter:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, served.adapter).merge_and_unload()
                model.eval()
            self._models[served] = (model, tokenizer, threading.Lock())
            while len(self._models) > self.keep:
                self._models.popitem(last=False)
            return self._models[served]


def chat_completion(pool: ModelPool, served: Served, request: dict) -> dict:
    """An OpenAI chat.completion object for a validated request body."""
    from training.generation import generate_batch

    model, tokenizer, lock = pool.get(served)
    tools = request.get("tools") or None
    # The caller's messages are the whole prompt: no project system prompt is added here.
    spec = PromptSpec(tools=tools)
    messages = build_messages(spec, messages=request["messages"])
    prompt = render_prompt(tokenizer, spec, messages)
    with lock:
        generation = generate_batch(
            model,
            tokenizer,
            [prompt],
            max_new_tokens=int(
                request.get("max_tokens") or request.get("max_completion_tokens") or 256
            ),
            temperature=float(request.get("temperature") or 0.0),
            batch_size=1,
            stop=request.get("stop") or None,
            seed=request.get("seed"),
        )[0]
    message: dict = {"role": "assistant", "content": generation.text}
    finish_reason = generation.finish_reason
    if tools:
        from training.parsing import parse_output

        parsed = parse_output(generation.text, tools=tools)
        if parsed.kind == "tool_calls":
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{uuid.uuid4().hex[:24]}",
                        "type": "function",
                        "function": {
                            "name": call["name"],
                            "arguments": _json(call.get("arguments", {})),
                        },
                    }
                    for call in parsed.tool_calls
                ],
            }
            finish_reason = "tool_calls"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served.id,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        },
    }


def _json(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
