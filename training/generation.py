"""Batched generation for drafting, comparison and the OpenAI-compatible endpoint."""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Generation:
    """One completion. latency_s is the wall time from the start of its prompt to its last token;
    first_token_s the part of it until its first token (the prefill of its group).

    (Sampled completions, which still go through model.generate, report the wall time of the
    batch they were generated in, and no first-token time.)
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: Literal["stop", "length"] = "stop"
    first_token_s: float | None = None


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
    on_done: Callable[[int, Generation], None] | None = None,
) -> list[Generation]:
    """Complete each prompt (already rendered, e.g. by prompting.render_prompt), in order.

    Greedy unless temperature > 0. Generation ends at the model's end-of-sequence token or a
    `stop` string, which is cut from the text. `on_done(index, generation)`, if given, is called
    as each prompt finishes (in the order they finish), e.g. to save it and report progress.

    Greedy decoding keeps up to `batch_size` prompts in flight. Prompts waiting for a place
    are prefilled together in one packed forward, each reusing the keys and values of the
    prefix it shares with the prompt before it, with each prompt's attention computed on its
    own so its numbers are the same at every batch size (_prefill); then they join the batch,
    left-padded in the KV cache. A row leaves the batch the step it finishes; free places are
    refilled once half the batch is free (or nothing else is running).
    Sampling uses model.generate over length-sorted, left-padded chunks.
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
        on_done=on_done or (lambda index, generation: None),
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
    on_done: Callable[[int, Generation], None],
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
            on_done(i, results[i])
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
    first_token_s: float | None = None
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
    on_done: Callable[[int, Generation], None],
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
    refill = max(1, batch_size // 2)

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
        results[row.index].first_token_s = row.first_token_s
        on_done(row.index, results[row.index])

    with torch.inference_mode():
        while waiting or rows:
            # Prompts join in groups, prefilled together (cheaper per prompt, see _prefill):
            # free places wait until half the batch is free, unless nothing else is running.
            free = batch_size - len(rows)
            if waiting and (not rows or free >= min(refill, len(waiting))):
                group = [waiting.popleft() for _ in range(min(free, len(waiting)))]
                started = time.perf_counter()
                prefilled = []
                for pack in _packs([encoded[i] for i in group]):
                    prefilled += _prefill(pack, model, previous)
                    previous = (pack[-1], prefilled[-1][1])
                joining = []
                prefilled_s = time.perf_counter() - started
                for index, (logits, kept) in zip(group, prefilled, strict=True):
                    row = _Row(index, len(encoded[index]), started, prefilled_s)
                    row.tokens.append(int(logits.argmax()))
                    if finished(row):
                        finish(row)
                    else:
                        rows.append(row)
                        joining.append(kept)
                if joining:
                    cache, mask = _join(cache, mask, joining, max_new_tokens, model)
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


@dataclass
class _Packing:
    """Prompts prefilled together in one packed sequence (see _prefill)."""

    spans: list[tuple[int, int]]  # each prompt's new tokens in the packed sequence
    shared: list[int]  # leading tokens whose keys and values come from the prompt before
    before: list[tuple[Any, Any]] | None  # per layer: those of the prompt before the first
    masks: list[Any]  # each prompt's attention mask (None: plain causal)
    kept: dict[int, list[tuple[Any, Any]]] = field(default_factory=dict)  # layer -> per prompt


_PACKED = "tunedesk_packed_prefill"
_packing: ContextVar[_Packing | None] = ContextVar("tunedesk_packing", default=None)


def _packed_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kw):
    """Attention of each packed prompt on its own: the same call, on the same shapes, as if
    it had been prefilled alone, so a prompt's numbers do not depend on its neighbours."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    packing = _packing.get()
    kept = packing.kept.setdefault(module.layer_idx, [])
    outputs = []
    for n, ((start, end), shared, mask) in enumerate(
        zip(packing.spans, packing.shared, packing.masks, strict=True)
    ):
        keys, values = key[:, :, start:end], value[:, :, start:end]
        if shared:
            # The prompt before it in this pack, or the one before the pack.
            keys_before, values_before = kept[n - 1] if n else packing.before[module.layer_idx]
            keys = torch.cat([keys_before[:, :, :shared], keys], dim=2)
            values = torch.cat([values_before[:, :, :shared], values], dim=2)
        keys, values = keys.contiguous(), values.contiguous()
        kept.append((keys, values))
        output, _ = sdpa_attention_forward(
            module, query[:, :, start:end].contiguous(), keys, values, mask, **kw
        )
        outputs.append(output)
    return torch.cat(outputs, dim=1), None


# Prompt tokens computed in one packed forward: a bound on its activations' memory.
PACK_TOKENS = 8192


def _packs(prompts: list[list[int]]) -> Iterator[list[list[int]]]:
    """`prompts` in consecutive packs of at most PACK_TOKENS tokens (one prompt at least)."""
    pack: list[list[int]] = []
    size = 0
    for ids in prompts:
        if pack and size + len(ids) > PACK_TOKENS:
            yield pack
            pack, size = [], 0
        pack.append(ids)
        size += len(ids)
    if pack:
        yield pack


@functools.cache
def _register_packed() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(_PACKED, _packed_attention)
    AttentionMaskInterface.register(_PACKED, lambda *args, **kwargs: None)  # built per prompt


def _prefill(
    prompts: list[list[int]], model: Any, previous: tuple[list[int], list] | None
) -> list[tuple[Any, list[tuple[Any, Any]]]]:
    """(logits of the last token, per-layer keys and values) of each prompt, in one forward.

    The prompts go in packed end to end, without padding, so the linear layers work on all of
    their tokens at once (several times faster per token than one short prompt at a time);
    each prompt's attention is computed on its own (_packed_attention). A prompt reuses the
    keys and values of the prefix it shares with the prompt before it, in the pack or (for the
    first) the last prompt of the pack before. Every prompt thus gets the same numbers at any
    batch size: greedy outputs do not change with it.
    """
    import torch

    _register_packed()
    spans, shared, masks, positions = [], [], [], []
    before_ids, before_kv = previous if previous is not None else ([], None)
    offset = 0
    device = model.device
    for ids in prompts:
        common = 0
        limit = min(len(before_ids), len(ids) - 1)  # at least one token left to compute
        while common < limit and before_ids[common] == ids[common]:
            common += 1
        new = len(ids) - common
        spans.append((offset, offset + new))
        shared.append(common)
        positions.append(torch.arange(common, len(ids), device=device))
        if common and new > 1:
            # Causal over the shared prefix and the new tokens (what SDPA gets for a cache).
            rows = torch.arange(new, device=device)[:, None] + common
            masks.append((torch.arange(len(ids), device=device)[None] <= rows)[None, None])
        else:
            masks.append(None)
        offset += new
        before_ids = ids
    packed = torch.tensor(
        [t for ids, common in zip(prompts, shared, strict=True) for t in ids[common:]],
        device=device,
    )
    packing = _Packing(spans, shared, before_kv, masks)
    config = model.config
    implementation = config._attn_implementation
    token = _packing.set(packing)
    config._attn_implementation = _PACKED
    try:
        logits = model(
            input_ids=packed[None],
            position_ids=torch.cat(positions)[None],
            use_cache=False,
            logits_to_keep=torch.tensor([end - 1 for _, end in spans], device=device),
        ).logits[0]
    finally:
        config._attn_implementation = implementation
        _packing.reset(token)
    layers = [packing.kept[layer] for layer in sorted(packing.kept)]
    return [(logits[n], [per_prompt[n] for per_prompt in layers]) for n in range(len(prompts))]


@functools.cache
def _roomy_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class RoomyLayer(DynamicLayer):
        """A DynamicLayer whose keys and values are views into buffers with room to grow: a
        decoding step writes its one new column in place, where DynamicLayer copies the
        whole cache (which, for long prompts in a large batch, costs more than the step).

        _join reserves room for every token a row can still get, so the buffers never fill
        up (writing past them would fail loudly, not corrupt the cache)."""

        def __init__(self, keys: Any, values: Any, length: int):
            super().__init__()
            self.buffers = (keys, values)
            self.device = keys.device
            self.is_initialized = True
            self._resize(length)

        def _resize(self, length: int) -> None:
            keys, values = self.buffers
            self.keys, self.values = keys[..., :length, :], values[..., :length, :]

        def update(self, key_states: Any, value_states: Any, *args, **kwargs) -> tuple:
            length, new = self.keys.shape[-2], key_states.shape[-2]
            self.buffers[0][..., length : length + new, :] = key_states
            self.buffers[1][..., length : length + new, :] = value_states
            self._resize(length + new)
            return self.keys, self.values

    return RoomyLayer


def _roomy_layer(keys: Any, values: Any, length: int) -> Any:
    """A cache layer over `keys` and `values` buffers whose first `length` columns are used."""
    return _roomy_layer_class()(keys, values, length)


def _join(
    cache: Any, mask: Any, rows: list[list[tuple[Any, Any]]], room: int, model: Any
) -> tuple[Any, Any]:
    """Add prefilled rows (per-layer keys and values) to the batch, in one copy: every row is
    left-padded to the longest, and the cache gets room for `room` more tokens."""
    import torch
    from transformers import DynamicCache

    device = model.device
    lengths = [row[0][0].shape[-2] for row in rows]
    before = 0 if mask is None else mask.shape[1]
    width = max(before, *lengths)
    old = 0 if mask is None else mask.shape[0]
    joined = DynamicCache(config=model.config)
    layers = []
    for n in range(len(rows[0])):
        buffers = []
        for side in (0, 1):
            sample = rows[0][n][side]
            # Zeros, not garbage, under the padding: masked scores still multiply the values.
            buffer = sample.new_zeros(
                (old + len(rows), sample.shape[1], width + room, sample.shape[3])
            )
            if cache is not None:
                layer = cache.layers[n]
                buffer[:old, :, width - before : width] = (layer.keys, layer.values)[side]
            for r, (row, length) in enumerate(zip(rows, lengths, strict=True)):
                buffer[old + r, :, width - length : width] = row[n][side][0]
            buffers.append(buffer)
        layers.append(_roomy_layer(*buffers, width))
    joined.layers = layers
    new_mask = torch.zeros((old + len(rows), width), dtype=torch.long, device=device)
    if mask is not None:
        new_mask[:old, width - before :] = mask
    for r, length in enumerate(lengths):
        new_mask[old + r, width - length :] = 1
    return joined, new_mask


def _select(cache: Any, mask: Any, keep: list[int], device: Any) -> tuple[Any, Any]:
    """Keep only the `keep` rows, and drop the padding columns no remaining row needs."""
    import torch

    index = torch.tensor(keep, device=device)
    mask = mask[index]
    start = int(mask.any(dim=0).int().argmax())
    width = mask.shape[1] - start
    for n, layer in enumerate(cache.layers):
        keys, values = (buffer[index, :, start:] for buffer in layer.buffers)
        cache.layers[n] = _roomy_layer(keys, values, width)
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
