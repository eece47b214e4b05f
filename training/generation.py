"""Batched generation for drafting, comparison and the OpenAI-compatible endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal


@dataclass
class Generation:
    """One completion. latency_s is the wall time of the batch it was generated in."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: Literal["stop", "length"] = "stop"


def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    batch_size: int = 8,
    stop: list[str] | None = None,
    seed: int | None = None,
) -> list[Generation]:
    """Complete each prompt (already rendered, e.g. by prompting.render_prompt), in order.

    Prompts are sorted by length so each batch pads little (on the left, whatever the
    tokenizer's padding_side), then put back in input order.
    Greedy unless temperature > 0. Generation ends at the model's end-of-sequence token or a
    `stop` string, which is cut from the text.
    """
    import torch

    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    eos = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    ends = {*eos, pad_id}  # a row that stops early is padded to the batch's length
    results: list[Generation | None] = [None] * len(prompts)
    if seed is not None:
        torch.manual_seed(seed)
    for first in range(0, len(order), batch_size):
        chunk = order[first : first + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        pads = [width - len(encoded[i]) for i in chunk]
        input_ids = torch.tensor(
            [[pad_id] * p + encoded[i] for p, i in zip(pads, chunk, strict=True)]
        )
        attention_mask = torch.tensor([[0] * p + [1] * (width - p) for p in pads])
        sampling = {"temperature": temperature} if temperature > 0 else {}
        stopping = {"stop_strings": stop, "tokenizer": tokenizer} if stop else {}
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids.to(model.device),
                attention_mask=attention_mask.to(model.device),
                max_new_tokens=max_new_tokens,
                do_sample=temperature > 0,
                eos_token_id=eos,
                pad_token_id=pad_id,
                **(sampling | stopping),
            )
        elapsed = time.perf_counter() - started
        new = output[:, width:].tolist()
        for i, tokens in zip(chunk, new, strict=True):
            results[i] = _finish(tokenizer, tokens, ends, stop, len(encoded[i]), elapsed)
    return results  # type: ignore[return-value]


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({i for i in [*ids, tokenizer.eos_token_id] if i is not None})


def _finish(
    tokenizer: Any,
    tokens: list[int],
    ends: set[int],
    stop: list[str] | None,
    prompt_tokens: int,
    elapsed: float,
) -> Generation:
    end = next((n for n, t in enumerate(tokens) if t in ends), None)
    kept = tokens if end is None else tokens[:end]
    # NUL never belongs in an answer, and PostgreSQL text columns refuse it.
    text = tokenizer.decode(kept, skip_special_tokens=True).replace("\x00", "")
    cut = min((text.find(s) for s in stop or [] if s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    finished = end is not None or cut >= 0
    if not finished:
        text = text.rstrip("\ufffd")  # a character cut in half by max_new_tokens
    return Generation(
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=len(kept) + (end is not None),
        latency_s=elapsed,
        finish_reason="stop" if finished else "length",
    )
