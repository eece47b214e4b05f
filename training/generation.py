"""Batched generation for drafting, comparison and the OpenAI-compatible endpoint."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Generation:
    """One completion. latency_s is the wall time from the start of its prompt to its last token.

    (Sampled completions, which still go through model.generate, report the wall time of the
    batch they were generated in.)
    """

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

    Greedy unless temperature > 0. Generation ends at the model's end-of-sequence token or a
    `stop` string, which is cut from the text.

    Greedy decoding keeps up to `batch_size` prompts in flight: each prompt is prefilled on its
    own (no padding, reusing the keys and values of the prefix it shares with the prompt before
    it, so its first token is computed the same at every batch size), then joins the batch,
    left-padded in the KV cache; a row leaves the batch the step it finishes and the next prompt
    takes its place. Sampling uses model.generate over length-sorted, left-padded chunks.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size is {batch_size}. Fix: give 1 or more.")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens is {max_new_tokens}. Fix: give 1 or more.")
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    for n, ids in enumerate(encoded):
        if not ids:
            raise ValueError(
                f"prompt {n} is empty: there is nothing to continue. "
                "Fix: render it with prompting.render_prompt or drop it."
            )
    # Shortest first: similar lengths share a chunk (sampling) or the batch (greedy).
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    eos = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    if seed is not None:
        torch.manual_seed(seed)
    if temperature > 0 or not _decodes_by_hand(model):
        generate = _generate_chunks
    else:
        generate = _generate_greedy
    return generate(
        model,
        tokenizer,
        encoded,
        order,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        stop=stop,
        eos=eos,
        pad_id=pad_id,
    )


def _generate_chunks(
    model: Any,
    tokenizer: Any,
    encoded: list[list[int]],
    order: list[int],
    *,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    stop: list[str] | None,
    eos: list[int],
    pad_id: int,
) -> list[Generation]:
    """model.generate over left-padded chunks of `batch_size` prompts (sampling, odd models)."""
    import torch

    ends = {*eos, pad_id}  # a row that stops early is padded to the batch's length
    results: list[Generation | None] = [None] * len(encoded)
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


# Generation settings that change greedy choices; a model that sets any is left to generate().
_LOGITS_SETTINGS = {
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "min_length": 0,
    "min_new_tokens": None,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "sequence_bias": None,
    "exponential_decay_length_penalty": None,
    "renormalize_logits": False,
}


def _decodes_by_hand(model: Any) -> bool:
    """Whether the greedy loop below reproduces model.generate for this model."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return False
    settings = model.generation_config
    if any(getattr(settings, k, d) not in (d, None) for k, d in _LOGITS_SETTINGS.items()):
        return False
    if getattr(settings, "num_beams", 1) not in (1, None):
        return False
    # Only plain full-attention layers: the loop pads, joins and trims their key/value tensors.
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=config).layers)


@dataclass
class _Row:
    index: int
    prompt_tokens: int
    started: float
    tokens: list[int] = field(default_factory=list)


def _generate_greedy(
    model: Any,
    tokenizer: Any,
    encoded: list[list[int]],
    order: list[int],
    *,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    stop: list[str] | None,
    eos: list[int],
    pad_id: int,
) -> list[Generation]:
    """Greedy decoding with the KV cache, up to `batch_size` rows in flight."""
    import torch

    ends = {*eos, pad_id}
    device = model.device
    results: list[Generation | None] = [None] * len(encoded)
    # In token order, each prompt shares the longest possible prefix with the one before it,
    # whose keys and values it reuses (a project's system prompt and tools are computed once).
    waiting = deque(sorted(order, key=lambda i: encoded[i]))
    previous: tuple[list[int], list[Any]] | None = None
    rows: list[_Row] = []
    cache: Any = None
    mask: Any = None  # [rows, cached columns], 0 on the left padding

    def finished(row: _Row) -> bool:
        if row.tokens[-1] in ends or len(row.tokens) >= max_new_tokens:
            return True
        if stop:
            text = tokenizer.decode(row.tokens, skip_special_tokens=True).replace("\x00", "")
            return any(s in text for s in stop)
        return False

    def finish(row: _Row) -> None:
        elapsed = time.perf_counter() - row.started
        results[row.index] = _finish(tokenizer, row.tokens, ends, stop, row.prompt_tokens, elapsed)

    with torch.inference_mode():
        while waiting or rows:
            while waiting and len(rows) < batch_size:
                row = _Row(waiting.popleft(), 0, time.perf_counter())
                ids = encoded[row.index]
                row.prompt_tokens = len(ids)
                # Alone and unpadded, the prompt is computed the same at every batch size.
                logits, row_cache = _prefill(model, ids, previous)
                previous = (ids, [(layer.keys, layer.values) for layer in row_cache.layers])
                row.tokens.append(int(logits[0, -1].argmax()))
                if finished(row):
                    finish(row)
                    continue
                cache, mask = _join(cache, mask, row_cache, device)
                rows.append(row)
            if not rows:
                continue
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            logits = model(
                input_ids=torch.tensor([[r.tokens[-1]] for r in rows], device=device),
                # All ones (no padding) is given as None, as model.generate does.
                attention_mask=None if bool(mask.all()) else mask,
                position_ids=torch.tensor(
                    [[r.prompt_tokens + len(r.tokens) - 1] for r in rows], device=device
                ),
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits
            for row, token in zip(rows, logits[:, -1].argmax(-1).tolist(), strict=True):
                row.tokens.append(token)
            keep = [n for n, row in enumerate(rows) if not finished(row)]
            if len(keep) < len(rows):
                for n, row in enumerate(rows):
                    if n not in keep:
                        finish(row)
                rows = [rows[n] for n in keep]
                if rows:
                    cache, mask = _select(cache, mask, keep, device)
                else:
                    cache = mask = None
    return results  # type: ignore[return-value]


def _prefill(model: Any, ids: list[int], previous: Any) -> tuple[Any, Any]:
    """(last logits, cache) of one prompt, reusing the cached prefix it shares with `previous`."""
    import torch
    from transformers import DynamicCache

    shared = 0
    if previous is not None:
        before, _ = previous
        limit = min(len(before), len(ids) - 1)  # at least one token left to compute
        while shared < limit and before[shared] == ids[shared]:
            shared += 1
    if shared:
        # Slices of tensors that are never written in place (the cache grows by torch.cat).
        kept = [(k[:, :, :shared], v[:, :, :shared]) for k, v in previous[1]]
        cache = DynamicCache(kept, config=model.config)
    else:
        cache = DynamicCache(config=model.config)
    device = model.device
    logits = model(
        input_ids=torch.tensor([ids[shared:]], device=device),
        position_ids=torch.arange(shared, len(ids), device=device)[None],
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits
    return logits, cache


def _join(cache: Any, mask: Any, row_cache: Any, device: Any) -> tuple[Any, Any]:
    """Add a prefilled row to the batch, left-padding whichever side is shorter."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own convention

    length = row_cache.get_seq_length()
    if cache is None:
        return row_cache, torch.ones((1, length), dtype=torch.long, device=device)
    width = mask.shape[1]
    grow, pad = max(0, length - width), max(0, width - length)
    for layer, new in zip(cache.layers, row_cache.layers, strict=True):
        layer.keys = torch.cat(
            [F.pad(layer.keys, (0, 0, grow, 0)), F.pad(new.keys, (0, 0, pad, 0))]
        )
        layer.values = torch.cat(
            [F.pad(layer.values, (0, 0, grow, 0)), F.pad(new.values, (0, 0, pad, 0))]
        )
    row_mask = torch.ones((1, length), dtype=mask.dtype, device=device)
    mask = torch.cat([F.pad(mask, (grow, 0)), F.pad(row_mask, (pad, 0))])
    return cache, mask


def _select(cache: Any, mask: Any, keep: list[int], device: Any) -> tuple[Any, Any]:
    """Keep only the `keep` rows, and drop the padding columns no remaining row needs."""
    import torch

    index = torch.tensor(keep, device=device)
    mask = mask[index]
    start = int(mask.any(dim=0).int().argmax())
    for layer in cache.layers:
        layer.keys = layer.keys[index, :, start:]
        layer.values = layer.values[index, :, start:]
    return cache, mask[:, start:]


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
