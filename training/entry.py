"""The training child: `python -m training.entry <workdir>/config.json`. Imports no Django.

Runs unchanged as `accelerate launch [--num_processes N] -m training.entry config.json` or
under `torchrun` (the worker launches it so for a run with config `processes` > 1:
jobs.services.python_module): each process takes every N-th batch, gradients are
all-reduced (DDP; gloo on CPU), the evaluation loss is summed over the ranks' test batches,
and only rank 0 writes progress, the result, the manifest and the adapter. A rank dies with
its launcher, and CPU ranks share the host's cores.

config.json (written by training.runs; a run's manifest.json is a superset and works too):
  config      RunConfig as a dict (training.config)
  model       {"name", "kind": bundled|gguf|local|hub, "source"} (training.modelload.ModelSource)
  cache_dir   model cache directory
  prompt      PromptSpec as a dict (training.prompting): system_prompt, tools, template, ...
  data        {"train": [{"path", "sha256"?, "rows"?}], "test": [...]}: JSON Lines or a JSON
              array; a given sha256 is checked before training
  output_dir  where the adapter, tokenizer, metrics, manifest and result go
  run         free metadata copied to the manifest (run id, project, snapshot id)

Rows it accepts (one JSON object per row):
  SFT  OpenAI chat {"messages": [...], "tools"?: [...]} (tool_calls, tool results and a
       per-message "weight" included); Alpaca {"instruction", "input"?, "output",
       "system"?, "history"?}; a preference row is trained on its chosen answer.
  DPO  {"messages" | "prompt": [...] | "text", "chosen", "rejected", "tools"?} where chosen and
       rejected are an assistant message, a list of messages or a string (the seed's and
       TRL's conversational shapes); OpenAI DPO {"input": {"messages", "tools"?},
       "preferred_output": [...], "non_preferred_output": [...]}; Alpaca preference
       {"instruction", "input"?, "chosen", "rejected"} with text answers.

It writes to the config's directory: progress.jsonl (a line per optimizer step: done, total,
step, epoch, loss, lr, tokens_per_s, elapsed_s, eta_s, real_token_share; eval lines add
eval_loss) and result.json (train_loss, eval_loss; train_seconds: the loop alone, evaluations
excluded; wall_seconds: the whole child, from before torch is imported to after the save;
peak_rss_mb: this process's peak resident memory; tokens_per_second: real, non-padding tokens
per loop second; rows_per_second); and to output_dir: adapter/ (adapter_model.safetensors, adapter
config, tokenizer with its chat template), merged/ when asked, metrics.jsonl, manifest.json.
SIGTERM stops it within a step; it then exits with code 143 and writes no result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.record_content import instruction_messages
from jobs.lifeline import rank_dies_with_launcher
from jobs.progress import ProgressWriter, write_result
from training.config import ConfigError, RunConfig
from training.modelload import ModelSource, choose_device, load_model, native_bf16
from training.prompting import PromptSpec, render_prompt, render_training_example

EXIT_STOPPED = 128 + signal.SIGTERM
STEP_LABEL = "tunedesk.step"  # torch.profiler labels: benchmarks/training.py reads them
# The child's clock starts here, before torch is imported: a run's wall_seconds covers
# imports, model load, tokenisation, the loop, the final evaluation and the save.
CHILD_STARTED = time.perf_counter()


class Stopped(Exception):
    """SIGTERM arrived: the run was cancelled."""


class DataError(ValueError):
    def __init__(self, where: str, message: str, *, hint: str = "") -> None:
        super().__init__(f"{where}: {message}" + (f" Fix: {hint}" if hint else ""))


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Stopped("stopped by SIGTERM (the run was cancelled)")


# --- reading rows ---------------------------------------------------------------------------


def read_rows(path: str | Path, *, sha256: str | None = None) -> list[dict]:
    """Rows of a JSON Lines file or a JSON array; checks the file's sha256 when given."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "does not exist.", hint="export the snapshot again")
    raw = path.read_bytes()
    if sha256 and hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError(
            str(path),
            "has changed since the snapshot was taken (sha256 differs).",
            hint="train on a fresh snapshot; snapshot files must never be edited",
        )
    text = raw.decode("utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}", f"is not JSON ({exc.msg}).") from exc
    return rows


def answer_messages(value: Any) -> list[dict]:
    """A row's answer value (text, a message or a list of them) as messages."""
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise DataError("row", f"an answer {value!r} is not text, a message or a list of them.")


def sft_example(row: dict) -> tuple[list[dict], Any]:
    """(messages, tools) of one SFT row."""
    if "messages" in row:
        messages = list(row["messages"])
        if "chosen" in row:
            messages += answer_messages(row["chosen"])
        return messages, row.get("tools")
    if "instruction" in row and "output" in row:
        messages = instruction_messages(
            row["instruction"],
            row.get("input") or "",
            row["output"],
            system=row.get("system") or "",
            history=row.get("history"),
        )
        return messages, row.get("tools")
    if "chosen" in row:
        messages, tools, chosen, _ = preference_example(row)
        return messages + chosen, tools
    raise DataError(
        "row",
        f"has neither messages nor instruction/output (keys: {sorted(row)}).",
        hint="export the snapshot as openai_chat or alpaca",
    )


def preference_example(row: dict) -> tuple[list[dict], Any, list[dict], list[dict]]:
    """(prompt messages, tools, chosen messages, rejected messages) of one preference row."""
    if "input" in row and "preferred_output" in row:  # OpenAI DPO
        source = row["input"]
        return (
            list(source["messages"]),
            source.get("tools"),
            answer_messages(row["preferred_output"]),
            answer_messages(row["non_preferred_output"]),
        )
    if "chosen" not in row or "rejected" not in row:
        raise DataError(
            "row",
            f"is not a preference pair (keys: {sorted(row)}).",
            hint="export the snapshot in a preference format with chosen and rejected",
        )
    if "messages" in row:
        messages = list(row["messages"])
    elif isinstance(row.get("prompt"), list):
        messages = list(row["prompt"])
    elif isinstance(row.get("prompt"), str):
        messages = [{"role": "user", "content": row["prompt"]}]
    elif "instruction" in row:
        messages = instruction_messages(
            row["instruction"],
            row.get("input") or "",
            None,
            system=row.get("system") or "",
            history=row.get("history"),
        )
    else:
        raise DataError("row", "has chosen/rejected but no messages, prompt or instruction.")
    return (
        messages,
        row.get("tools"),
        answer_messages(row["chosen"]),
        answer_messages(row["rejected"]),
    )


# --- encoding -------------------------------------------------------------------------------


@dataclass
class Encoded:
    """Tokenized SFT rows and what preparation did to them."""

    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    full_lengths: list[int] = field(default_factory=list)  # before truncation
    truncated_rows: int = 0
    truncated_tokens: int = 0

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def stats(self) -> dict:
        trained = sum(sum(1 for t in lab if t != -100) for lab in self.labels)
        return {
            "rows": len(self.input_ids),
            "tokens": sum(self.lengths),
            "trained_tokens": trained,
            "truncated_rows": self.truncated_rows,
            "truncated_tokens": self.truncated_tokens,
            "max_length_seen": max(self.full_lengths, default=0),
        }


def encode_sft(
    tokenizer: Any,
    spec: PromptSpec,
    rows: list[dict],
    *,
    max_length: int,
    answer_only: bool = True,
) -> Encoded:
    """Render every row with prompting.render_training_example: drafting's code path."""
    out = Encoded()
    for number, row in enumerate(rows, 1):
        try:
            messages, tools = sft_example(row)
            ids, labels = render_training_example(
                tokenizer, spec, messages, tools=tools, max_length=None
            )
            full = len(ids)
            if full > max_length:
                ids, labels = render_training_example(
                    tokenizer, spec, messages, tools=tools, max_length=max_length
                )
                out.truncated_rows += 1
                out.truncated_tokens += full - len(ids)
        except Exception as exc:
            raise DataError(f"row {number}", str(exc)) from exc
        if not answer_only:
            labels = list(ids)
        out.input_ids.append(ids)
        out.labels.append(labels)
        out.full_lengths.append(full)
    return out


def encode_train(tokenizer: Any, setup: dict, cfg: RunConfig, rows: list[dict]) -> Encoded:
    """SFT rows as the run trains on them: with config.json's prompt setup, its max length
    and loss mask. The preparation preview renders through this too."""
    spec = PromptSpec.from_dict(setup.get("prompt") or {})
    return encode_sft(
        tokenizer, spec, rows, max_length=cfg.max_length, answer_only=cfg.answer_only_loss
    )


def preference_texts(tokenizer: Any, spec: PromptSpec, row: dict) -> dict:
    """{"prompt", "chosen", "rejected"} as text, the prompt rendered as for generation."""
    messages, tools, chosen, rejected = preference_example(row)
    prompt = render_prompt(tokenizer, spec, messages, tools=tools)
    out = {"prompt": prompt}
    for key, answer in (("chosen", chosen), ("rejected", rejected)):
        ids, _ = render_training_example(
            tokenizer, spec, messages + answer, tools=tools, max_length=None
        )
        full = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if not full.startswith(prompt):
            raise DataError(
                "row",
                "the rendered answer does not continue the rendered prompt.",
                hint="use a chat template that renders past turns unchanged",
            )
        out[key] = full[len(prompt) :].rstrip()
    return out


def length_grouped_batches(
    lengths: list[int], batch_size: int, *, seed: int, grouping: str = "length"
) -> list[list[int]]:
    """Batches of row indices. "length": shuffle, sort within chunks of 50 batches, shuffle
    the batches, so rows of similar length share a batch and the order still varies."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if grouping == "length":
        chunk = batch_size * 50
        order = [
            i
            for start in range(0, len(order), chunk)
            for i in sorted(order[start : start + chunk], key=lambda i: -lengths[i])
        ]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if grouping == "length":
        rng.shuffle(batches)
    return batches


def collate(encoded: Encoded, batch: list[int], pad_id: int) -> dict:
    import torch

    width = max(len(encoded.input_ids[i]) for i in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, i in enumerate(batch):
        n = len(encoded.input_ids[i])
        ids[row, :n] = torch.tensor(encoded.input_ids[i])
        labels[row, :n] = torch.tensor(encoded.labels[i])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


MIN_SHARED_PREFIX = 32  # tokens; below it rows are packed side by side, nothing shared


@dataclass
class Pack:
    """A batch's rows end to end in one sequence, without padding.

    The prefix every row of the batch shares (the long system prompt and tool schemas of a
    tool-calling project) is computed once, at [0, prefix); each row's own tokens follow in
    its span, with its own position ids, and attend to the shared prefix and to themselves
    only (_packed_training_attention): the same numbers as the rows computed one by one.
    `head` lists the packed positions whose next token is trained and `targets` those tokens,
    row by row: the LM head runs there only.
    """

    input_ids: Any
    position_ids: Any
    spans: list[tuple[int, int]]
    prefix: int
    head: Any
    targets: Any
    real: int  # tokens of the rows as given (what padding-free batches would hold)
    rows: int
    rows_mask: Any = None  # the rows' attention mask after a shared prefix, built once

    @property
    def computed(self) -> int:
        return int(self.input_ids.shape[1])


def pack(encoded: Encoded, batch: list[int]) -> Pack:
    import torch

    rows = [encoded.input_ids[i] for i in batch]
    prefix = 0
    if len(rows) > 1:
        limit = min(len(r) for r in rows) - 1  # every row keeps a token of its own
        first = rows[0]
        while prefix < limit and all(r[prefix] == first[prefix] for r in rows):
            prefix += 1
        if prefix < MIN_SHARED_PREFIX:  # "<|im_start|>user\n": not worth a masked call
            prefix = 0
    ids, positions, spans, head, targets = list(rows[0][:prefix]), list(range(prefix)), [], [], []
    for i, row in zip(batch, rows, strict=True):
        start = len(ids)
        ids += row[prefix:]
        positions += range(prefix, len(row))
        spans.append((start, len(ids)))
        labels = encoded.labels[i]
        for t in range(len(row) - 1):
            if labels[t + 1] != -100:
                head.append(t if t < prefix else start + t - prefix)
                targets.append(labels[t + 1])
    return Pack(
        input_ids=torch.tensor([ids]),
        position_ids=torch.tensor([positions]),
        spans=spans,
        prefix=prefix,
        head=torch.tensor(head, dtype=torch.long),
        targets=torch.tensor(targets, dtype=torch.long),
        real=sum(len(r) for r in rows),
        rows=len(rows),
    )


_PACKED = "tunedesk_packed_training"
_current_pack: Any = None  # the Pack being computed (one forward at a time per process)


def _packed_training_attention(module: Any, query: Any, key: Any, value: Any, mask: Any, **kw):
    """Attention of a Pack: the shared prefix causally on itself, then each row's own tokens
    on the prefix and causally on themselves; never on another row."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    pack, outputs = _current_pack, []
    prefix = pack.prefix
    if not prefix:  # rows side by side: each causally on itself
        for start, end in pack.spans:
            q, k, v = query[:, :, start:end], key[:, :, start:end], value[:, :, start:end]
            outputs.append(sdpa_attention_forward(module, q, k, v, None, **kw)[0])
        return torch.cat(outputs, dim=1), None
    head = (query[:, :, :prefix], key[:, :, :prefix], value[:, :, :prefix])
    outputs.append(sdpa_attention_forward(module, *head, None, **kw)[0])
    # Every row's queries in one call over the whole sequence, masked to the prefix and the
    # row itself: one call on CPU is ~2.7x faster than one per row (measured, 4 rows of ~70
    # tokens after a 2,034-token prefix).
    if pack.rows_mask is None:
        total = query.shape[2]
        mask = torch.zeros(total - prefix, total, dtype=torch.bool, device=query.device)
        mask[:, :prefix] = True
        for start, end in pack.spans:
            n = end - start
            own = torch.ones(n, n, dtype=torch.bool, device=query.device).tril()
            mask[start - prefix : end - prefix, start:end] = own
        pack.rows_mask = mask[None, None]
    rows = query[:, :, prefix:]
    outputs.append(sdpa_attention_forward(module, rows, key, value, pack.rows_mask, **kw)[0])
    return torch.cat(outputs, dim=1), None


def _register_packed_training() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(_PACKED, _packed_training_attention)
    AttentionMaskInterface.register(_PACKED, lambda *args, **kwargs: None)


# torch.compile of the decoder layers costs ~35 s on 2 cores with a cold kernel cache (~8 s
# warm) and saves ~17 % of each step of the bundled model here: it pays from ~55 steps.
COMPILE_MIN_STEPS = 100


def compile_layers(model: Any, cfg: RunConfig, steps: int, cache_dir: Path) -> bool:
    """Compile each decoder layer with inductor (dynamic sequence length, one graph shared by
    every layer), leaving the packed attention eager; whether it did. Its kernels are cached
    beside the models, so a later run compiles in seconds."""
    import torch

    wanted = cfg.compile == "on" or (cfg.compile == "auto" and steps >= COMPILE_MIN_STEPS)
    layers = getattr(model.get_decoder(), "layers", None) if wanted else None
    if not layers:
        return False
    from transformers import AttentionInterface

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(cache_dir) / "inductor"))
    AttentionInterface.register(_PACKED, torch.compiler.disable(_packed_training_attention))
    for layer in layers:
        layer.compile(dynamic=True)
    return True


def can_pack(model: Any) -> bool:
    """Packing needs a decoder whose attention goes through transformers' attention interface
    with rotary positions from position_ids (Llama, Qwen2, Mistral without a sliding window,
    SmolLM...); anything else trains on padded batches."""
    config = model.config
    return (
        config.model_type in {"llama", "qwen2", "qwen3", "mistral", "smollm3"}
        and not getattr(config, "sliding_window", None)
        and getattr(config, "_attn_implementation", None) in ("sdpa", "eager", _PACKED)
    )


# --- the SFT loop ---------------------------------------------------------------------------


def loss_model_fast(loss_model: Any) -> bool:
    """Whether the loss module computes the head itself (the packed path needs it)."""
    return bool(getattr(getattr(loss_model, "module", loss_model), "fast", False))


def _loss_module(peft_model: Any) -> Any:
    import torch
    import torch.nn.functional as F
    from torch.profiler import record_function

    class AnswerLoss(torch.nn.Module):
        """Summed loss over trained tokens, with logits computed only where labels are.

        The LM head over a 49K vocabulary is a large share of a small model's compute; the
        prompt's positions (label -100) never need it. Falls back to the model's own loss
        for heads that post-process logits (soft-capping, scaling).
        """

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model
            causal = model.get_base_model()
            config = causal.config
            special = getattr(config, "final_logit_softcapping", None) or getattr(
                config, "logit_scale", None
            )
            self.fast = not special and hasattr(causal, "get_decoder")

        def forward(
            self, input_ids: Any = None, attention_mask: Any = None, labels: Any = None, pack=None
        ) -> tuple[Any, Any]:
            if pack is not None:
                return self.packed(pack)
            targets = labels[:, 1:]
            keep = targets != -100
            count = keep.sum()
            if not self.fast:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
                return out.loss * count, count
            causal = self.model.get_base_model()
            hidden = causal.get_decoder()(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).last_hidden_state
            with record_function("lm_head_and_loss"):
                logits = causal.get_output_embeddings()(hidden[:, :-1][keep]).float()
                return F.cross_entropy(logits, targets[keep], reduction="sum"), count

        def packed(self, pack: Pack) -> tuple[Any, Any]:
            global _current_pack
            causal = self.model.get_base_model()
            config = causal.config
            implementation, config._attn_implementation = config._attn_implementation, _PACKED
            _current_pack = pack
            try:
                hidden = causal.get_decoder()(
                    input_ids=pack.input_ids,
                    position_ids=pack.position_ids,
                    use_cache=False,
                ).last_hidden_state[0]
            finally:
                config._attn_implementation = implementation
                _current_pack = None
            with record_function("lm_head_and_loss"):
                logits = causal.get_output_embeddings()(hidden[pack.head]).float()
                loss = F.cross_entropy(logits, pack.targets, reduction="sum")
            return loss, pack.targets.new_tensor(len(pack.targets))

    return AnswerLoss(peft_model)


def resolve_precision(precision: str, *, device: str) -> str:
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"


def _lora(cfg: RunConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        task_type="CAUSAL_LM",
    )


def train_sft(setup: dict, cfg: RunConfig, ctx: dict) -> dict:
    import torch
    from accelerate import Accelerator
    from peft import get_peft_model
    from torch.profiler import record_function

    accelerator = Accelerator(cpu=ctx["device"] == "cpu")
    progress = ProgressWriter(
        ctx["workdir"],
        also=(ctx["output_dir"] / "metrics.jsonl",),
        enabled=accelerator.is_main_process,
    )
    dtype = "bfloat16" if ctx["precision"] == "bf16" else "float32"
    model, tokenizer = load_model(ctx["source"], cache_dir=Path(setup["cache_dir"]), dtype=dtype)
    train = encode_train(tokenizer, setup, cfg, ctx["train_rows"])
    test = encode_train(tokenizer, setup, cfg, ctx["test_rows"][: cfg.eval_max_rows])
    torch.manual_seed(cfg.seed)
    model.config.use_cache = False
    peft_model = get_peft_model(model, _lora(cfg))
    peft_model.train()
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_model, optimizer = accelerator.prepare(_loss_module(peft_model), optimizer)

    world, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = len(length_grouped_batches(train.lengths, cfg.batch_size, seed=0, grouping="none"))
    micro_per_epoch = max(1, per_epoch // world)
    steps_per_epoch = max(1, math.ceil(micro_per_epoch / cfg.grad_accum))
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    warmup = int(cfg.warmup_ratio * total)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    pad_id = tokenizer.pad_token_id
    packing = cfg.packing and loss_model_fast(loss_model) and can_pack(model)
    if packing:
        _register_packed_training()
    compiled = packing and compile_layers(model, cfg, total, Path(setup["cache_dir"]))

    def eager() -> Any:
        """Evaluation runs the layers as written: a no-grad pass would compile a second graph
        (set_stance applies when called, so it is called here, inside the `with`)."""
        return torch.compiler.set_stance("force_eager") if compiled else contextlib.nullcontext()

    def inputs(encoded: Encoded, batch: list[int]) -> dict:
        """The loss module's keyword arguments for one micro-batch, on the device."""
        if packing:
            made = pack(encoded, batch)
            for name in ("input_ids", "position_ids", "head", "targets"):
                setattr(made, name, getattr(made, name).to(accelerator.device))
            return {"pack": made}
        return {k: v.to(accelerator.device) for k, v in collate(encoded, batch, pad_id).items()}

    def trained_count(data: dict) -> int:
        if "pack" in data:
            return len(data["pack"].targets)
        return int((data["labels"][:, 1:] != -100).sum())

    def evaluate() -> float | None:
        if not test.input_ids:
            return None
        loss_model.eval()
        total_loss, total_count = 0.0, 0
        batches = length_grouped_batches(test.lengths, cfg.batch_size, seed=0)
        # The unwrapped module: a DDP-wrapped forward syncs buffers with the other ranks,
        # which hangs when they hold fewer test batches than this one.
        plain = accelerator.unwrap_model(loss_model)
        with torch.no_grad(), eager():
            for batch in batches[rank::world]:
                loss_sum, count = plain(**inputs(test, batch))
                total_loss += float(loss_sum)
                total_count += int(count)
        loss_model.train()
        sums = accelerator.reduce(
            torch.tensor([total_loss, total_count], device=accelerator.device), "sum"
        )
        return float(sums[0] / sums[1]) if sums[1] else None

    def evaluating(phase: str, **figures: Any) -> None:
        """Say on the page that an evaluation runs, on how many rows, and about how long it
        takes: a forward pass costs about a third of a training step per token."""
        pace = real * world / train_seconds if train_seconds else None
        eta = sum(test.lengths) / (3 * pace) if pace and test.input_ids else None
        progress.write(
            phase=phase,
            eval_rows=len(test.input_ids),
            eta_s=round(eta, 1) if eta is not None else None,
            done=step,
            total=total,
            **figures,
        )

    step, epoch, real, padded, train_seconds, rows_trained = 0, 0, 0, 0, 0.0, 0
    computed = 0  # tokens through the decoder: a shared prefix once per batch, padding too
    step_losses: list[float] = []
    eval_loss = None
    started = time.perf_counter()
    cpu_started = time.process_time()  # this process's CPU time: steadier on a busy machine
    while step < total:
        batches = length_grouped_batches(
            train.lengths, cfg.batch_size, seed=cfg.seed + epoch, grouping=cfg.grouping
        )[rank::world][:micro_per_epoch]
        groups = [batches[i : i + cfg.grad_accum] for i in range(0, len(batches), cfg.grad_accum)]
        for index, group in enumerate(groups):
            if step >= total:
                break
            labelled = record_function(STEP_LABEL)
            labelled.__enter__()
            with record_function("collate"):
                collated = [inputs(train, b) for b in group]
                count = sum(trained_count(c) for c in collated) or 1
            step_loss = 0.0
            for data in collated:
                loss_sum, _ = loss_model(**data)
                accelerator.backward(loss_sum / count)
                step_loss += float(loss_sum.detach()) / count
                if "pack" in data:
                    real += data["pack"].real
                    padded += data["pack"].real
                    computed += data["pack"].computed
                    rows_trained += data["pack"].rows
                else:
                    real += int(data["attention_mask"].sum())
                    padded += data["attention_mask"].numel()
                    computed += data["attention_mask"].numel()
                    rows_trained += len(data["input_ids"])
            with record_function("optimizer"):
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            labelled.__exit__(None, None, None)
            step += 1
            step_losses.append(step_loss)
            train_seconds = time.perf_counter() - started
            fraction = epoch + (index + 1) / len(groups)
            progress.write(
                phase="train",
                done=step,
                total=total,
                step=step,
                epoch=round(fraction, 3),
                loss=round(step_loss, 5),
                lr=scheduler.get_last_lr()[0],
                tokens_per_s=round(real * world / train_seconds, 1),
                real_token_share=round(real / padded, 4),
                elapsed_s=round(train_seconds, 1),
                eta_s=round(train_seconds / step * (total - step), 1),
            )
            if cfg.eval_every_steps and step % cfg.eval_every_steps == 0 and step < total:
                paused, cpu_paused = time.perf_counter(), time.process_time()
                evaluating("evaluate")
                eval_loss = evaluate()
                started += time.perf_counter() - paused  # eval time is not training time
                cpu_started += time.process_time() - cpu_paused
                progress.write(step=step, eval_loss=eval_loss, done=step, total=total)
        epoch += 1
        if step < total and not cfg.eval_every_steps:
            paused, cpu_paused = time.perf_counter(), time.process_time()
            evaluating("evaluate")
            eval_loss = evaluate()
            started += time.perf_counter() - paused
            cpu_started += time.process_time() - cpu_paused
            progress.write(step=step, epoch=epoch, eval_loss=eval_loss, done=step, total=total)
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - cpu_started
    evaluating("final_evaluation")
    eval_loss = evaluate()
    progress.write(phase="save", step=step, eval_loss=eval_loss, eta_s=None, done=step, total=total)
    last = step_losses[-min(len(step_losses), steps_per_epoch) :]
    rows_seen = rows_trained * world
    # every rank's last-epoch loss, not rank 0's half alone
    train_loss = accelerator.reduce(
        torch.tensor(sum(last) / len(last), device=accelerator.device), "mean"
    )
    result = {
        "train_loss": float(train_loss),
        "eval_loss": eval_loss,
        "train_seconds": round(train_seconds, 3),
        "train_cpu_seconds": round(train_cpu_seconds, 3),
        "tokens_per_second": round(real * world / train_seconds, 1) if train_seconds else None,
        "rows_per_second": round(rows_seen / train_seconds, 3) if train_seconds else None,
        "real_token_share": round(real / padded, 4) if padded else None,
        "computed_tokens": computed * world,
        "packing": packing,
        "compiled": compiled,
        "rows": len(train.input_ids),
        "test_rows": len(test.input_ids),
        "steps": step,
        "data": {"train": train.stats(), "test": test.stats()},
    }
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(loss_model).model
        result.update(_save(unwrapped, tokenizer, cfg, ctx["output_dir"]))
    return result


def _save(peft_model: Any, tokenizer: Any, cfg: RunConfig, output_dir: Path) -> dict:
    adapter = output_dir / "adapter"
    peft_model.save_pretrained(adapter, safe_serialization=True)
    tokenizer.save_pretrained(adapter)
    out = {"adapter_path": str(adapter)}
    if cfg.save_merged:
        merged = output_dir / "merged"
        peft_model.merge_and_unload().save_pretrained(merged, safe_serialization=True)
        tokenizer.save_pretrained(merged)
        out["merged_path"] = str(merged)
    return out


# --- DPO through TRL ------------------------------------------------------------------------


def train_dpo(setup: dict, cfg: RunConfig, ctx: dict) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    spec = PromptSpec.from_dict(setup.get("prompt") or {})
    dtype = "bfloat16" if ctx["precision"] == "bf16" else "float32"
    model, tokenizer = load_model(ctx["source"], cache_dir=Path(setup["cache_dir"]), dtype=dtype)
    tokenizer.padding_side = "right"
    model.config.use_cache = False

    def texts(rows: list[dict]) -> list[dict]:
        out = []
        for number, row in enumerate(rows, 1):
            try:
                out.append(preference_texts(tokenizer, spec, row))
            except Exception as exc:
                raise DataError(f"row {number}", str(exc)) from exc
        return out

    train_rows = texts(ctx["train_rows"])
    test_rows = texts(ctx["test_rows"][: cfg.eval_max_rows])
    progress = ProgressWriter(ctx["workdir"], also=(ctx["output_dir"] / "metrics.jsonl",))
    args = DPOConfig(
        output_dir=str(ctx["output_dir"] / "trainer"),
        use_cpu=ctx["device"] == "cpu",
        bf16=ctx["precision"] == "bf16",
        fp16=False,
        gradient_checkpointing=False,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        weight_decay=cfg.weight_decay,
        lr_scheduler_type="linear",
        max_length=cfg.max_length,
        beta=cfg.beta,
        seed=cfg.seed,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="steps" if cfg.eval_every_steps and test_rows else "no",
        eval_steps=cfg.eval_every_steps or None,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    started = time.perf_counter()
    real_tokens = 0  # set once TRL has tokenized (and possibly dropped) the rows

    class ToProgress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            elapsed = time.perf_counter() - started
            figures = {"done": state.global_step, "total": state.max_steps}
            figures.update(step=state.global_step, epoch=round(state.epoch or 0, 3))
            if "loss" in logs:
                seen = real_tokens * (state.epoch or 0)
                figures.update(
                    loss=logs["loss"],
                    lr=logs.get("learning_rate"),
                    tokens_per_s=round(seen / elapsed, 1) if elapsed else None,
                    elapsed_s=round(elapsed, 1),
                    eta_s=round(
                        elapsed / max(1, state.global_step) * (state.max_steps - state.global_step),
                        1,
                    ),
                    reward_accuracy=logs.get("rewards/accuracies"),
                )
            if "eval_loss" in logs:
                figures["eval_loss"] = logs["eval_loss"]
            if len(figures) > 4:
                progress.write(**figures)

    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(test_rows) if test_rows else None,
        processing_class=tokenizer,
        peft_config=_lora(cfg),
        callbacks=[ToProgress()],
    )
    kept = trainer.train_dataset
    real_tokens = sum(
        2 * len(p) + len(c) + len(r)
        for p, c, r in zip(
            kept["prompt_ids"], kept["chosen_ids"], kept["rejected_ids"], strict=True
        )
    )
    started = time.perf_counter()
    output = trainer.train()
    train_seconds = time.perf_counter() - started
    steps = trainer.state.global_step
    progress.write(
        phase="final_evaluation", eval_rows=len(test_rows), eta_s=None, done=steps, total=steps
    )
    eval_loss = trainer.evaluate()["eval_loss"] if test_rows else None
    progress.write(
        phase="save", step=steps, eval_loss=eval_loss, eta_s=None, done=steps, total=steps
    )
    epochs = trainer.state.epoch or 0
    result = {
        "train_loss": output.training_loss,
        "eval_loss": eval_loss,
        "train_seconds": round(train_seconds, 3),
        "tokens_per_second": round(real_tokens * epochs / train_seconds, 1),
        "rows_per_second": round(len(kept) * epochs / train_seconds, 3),
        "real_token_share": None,
        "rows": len(kept),
        "dropped_rows": len(train_rows) - len(kept),  # the prompt alone filled max_length
        "test_rows": len(test_rows),
        "steps": steps,
    }
    if trainer.accelerator.is_main_process:
        result.update(_save(trainer.model, tokenizer, cfg, ctx["output_dir"]))
    return result


# --- main -----------------------------------------------------------------------------------


def replay_rows(cfg: RunConfig, train_rows: list[dict]) -> tuple[list[dict], dict]:
    """The task rows with the replay set's general rows mixed in, and the manifest's record."""
    from training.replay import load_set, mix

    general, sha256 = load_set(cfg.replay_set)
    rows, record = mix(train_rows, general, share=cfg.replay, seed=cfg.seed)
    return rows, {"set": cfg.replay_set, "sha256": sha256, **record}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "peft", "trl", "accelerate", "datasets"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def job_figures() -> dict:
    """The whole child's wall time so far and its peak resident memory (this process)."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "wall_seconds": round(time.perf_counter() - CHILD_STARTED, 3),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }


def run(config_path: str | Path) -> dict:
    """Train as the config says; return result.json's content (also written to disk)."""
    import torch
    import transformers

    config_path = Path(config_path)
    setup = json.loads(config_path.read_text(encoding="utf-8"))
    cfg = RunConfig.from_dict(setup["config"])
    workdir = config_path.parent
    output_dir = Path(setup.get("output_dir") or workdir / "output")
    output_dir.mkdir(parents=True, exist_ok=True)
    data = setup.get("data") or {}
    train_rows = [
        row for f in data.get("train", []) for row in read_rows(f["path"], sha256=f.get("sha256"))
    ]
    test_rows = [
        row for f in data.get("test", []) for row in read_rows(f["path"], sha256=f.get("sha256"))
    ]
    if not train_rows:
        raise DataError("data.train", "has no rows.", hint="export a snapshot with a train split")
    replay = None
    if cfg.replay:
        train_rows, replay = replay_rows(cfg, train_rows)
    device = choose_device(use_cpu=cfg.use_cpu)
    ranks_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device == "cuda" and ranks_here > torch.cuda.device_count():
        raise ConfigError(
            "processes",
            f"asks for {ranks_here} processes on a host with {torch.cuda.device_count()} GPUs.",
            hint="give processes at most the number of GPUs (one process per GPU)",
        )
    if device == "cpu" and ranks_here > 1:
        # torchrun gives each rank one thread; CPU ranks share the host's cores instead
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks_here))
    precision = resolve_precision(cfg.precision, device=device)
    if int(os.environ.get("RANK", "0")) == 0:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        print(f"Training on device {device}, precision {precision}, {world} process(es).")
    transformers.set_seed(cfg.seed)
    ctx = {
        "workdir": workdir,
        "output_dir": output_dir,
        "device": device,
        "precision": precision,
        "source": ModelSource(**setup["model"]),
        "train_rows": train_rows,
        "test_rows": test_rows,
    }
    trainer = train_dpo if cfg.method == "dpo" else train_sft
    result = trainer(setup, cfg, ctx) | {"precision": precision, "device": device}
    result |= job_figures()
    if int(os.environ.get("RANK", "0")) != 0:
        return result
    manifest = {
        **setup,
        "config": cfg.to_dict() | {"precision": precision},
        "requested_precision": cfg.precision,
        "versions": versions(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "replay": replay,
        "result": result,
    }
    (output_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    result["manifest_path"] = str(output_dir / "manifest.json")
    write_result(workdir, result)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m training.entry <workdir>/config.json", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    rank = int(os.environ.get("RANK", "0"))
    if "LOCAL_RANK" in os.environ:
        rank_dies_with_launcher()
    try:
        result = run(argv[0])
    except Stopped as exc:
        print(f"Training {exc}.", file=sys.stderr, flush=True)
        return EXIT_STOPPED
    except Exception as exc:
        # The last log line is what the run page shows as the error: make it the cause.
        traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        if rank == 0 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # under torchrun the log ends with the launcher's summary: say the cause here
            message = f"{type(exc).__name__}: {exc}"
            write_result(Path(argv[0]).parent, error={"message": message})
        return 1
    if rank == 0:
        print(json.dumps({k: result.get(k) for k in ("train_loss", "eval_loss", "adapter_path")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
