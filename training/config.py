"""A training run's hyper-parameters: one dataclass, validated, stored as JSON.

Imports nothing from Django: the training child (`training.entry`) reads it too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

METHODS = ("sft", "dpo")
PRECISIONS = ("auto", "fp32", "bf16")
GROUPINGS = ("length", "none")
COMPILES = ("auto", "on", "off")
PROMPTS = ("short", "full")
DEFAULT_LEARNING_RATE = {"sft": 2e-4, "dpo": 5e-5}
MAX_PROCESSES = 64  # torchrun ranks on one host


class ConfigError(ValueError):
    """A hyper-parameter is wrong: `field` names it, `hint` says how to fix it."""

    def __init__(self, field: str, message: str, *, hint: str = "") -> None:
        super().__init__(f"{field}: {message}" + (f" Fix: {hint}" if hint else ""))
        self.field = field
        self.message = message
        self.hint = hint


@dataclass
class RunConfig:
    """LoRA SFT/DPO hyper-parameters with defaults that work on a 2-core CPU and on a GPU.

    `max_steps` (optimizer steps) wins over `epochs` when set. `precision="auto"` picks bf16
    where the hardware computes it natively (a CUDA GPU with bf16, a CPU with AVX512-BF16 or
    AMX; measured 1.4x faster than fp32 for LoRA here, with the same loss) and fp32 elsewhere;
    the manifest records what was used. `grouping="length"` batches rows of similar length so
    little compute goes to padding.
    """

    method: str = "sft"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    learning_rate: float | None = None
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 256
    precision: str = "auto"
    seed: int = 0
    grouping: str = "length"
    # SFT: each batch's rows end to end in one sequence, no padding, the prefix they share
    # computed once (entry.pack); the same loss as padded batches. False: padded batches.
    packing: bool = True
    # torch.compile (inductor) of each decoder layer of a packed SFT run: fuses the chains of
    # small element-wise ops (norms, rotary, activations, LoRA's scale-and-add). "auto" turns
    # it on from entry.COMPILE_MIN_STEPS optimizer steps, where its compile time has paid.
    compile: str = "auto"
    answer_only_loss: bool = True
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    eval_every_steps: int = 0
    eval_max_rows: int = 200
    beta: float = 0.1
    save_merged: bool = False
    use_cpu: bool | None = None
    # "short": train on the record alone (under the project's name, without the project's
    # tool schemas: prompt_setups), so the tuned model needs no long prompt at inference;
    # "full": the project's system prompt and tool schemas too.
    prompt: str = "short"
    # Replay: this share of the rows trained on are general instruction rows from a shipped
    # set (training/replay), so the tuned model keeps answering general questions in text.
    replay: float = 0.0
    replay_set: str = "general"
    # Processes the worker launches the run with (under torchrun): one per GPU on a CUDA
    # host, else that many CPU processes (gloo). Each takes every N-th batch, so a step
    # covers N * batch_size * grad_accum rows.
    processes: int = 1

    def __post_init__(self) -> None:
        if self.learning_rate is None and self.method in DEFAULT_LEARNING_RATE:
            self.learning_rate = DEFAULT_LEARNING_RATE[self.method]
        self.validate()

    def validate(self) -> None:
        def need(ok: bool, field: str, message: str, hint: str) -> None:
            if not ok:
                raise ConfigError(field, message, hint=hint)

        need(self.method in METHODS, "method", f"{self.method!r} is unknown.", "use sft or dpo")
        for name in (
            "lora_rank",
            "lora_alpha",
            "batch_size",
            "grad_accum",
            "max_length",
            "processes",
        ):
            value = getattr(self, name)
            need(
                isinstance(value, int) and not isinstance(value, bool) and value > 0,
                name,
                f"{value!r} is not a positive whole number.",
                f"give {name} as an integer of 1 or more",
            )
        need(
            self.processes <= MAX_PROCESSES,
            "processes",
            f"{self.processes} is more than {MAX_PROCESSES}.",
            "use one process per GPU of the host (or a few CPU processes)",
        )
        need(self.max_length >= 16, "max_length", "is below 16 tokens.", "use 128 or more")
        need(
            isinstance(self.learning_rate, int | float) and 0 < self.learning_rate < 1,
            "learning_rate",
            f"{self.learning_rate!r} is not between 0 and 1.",
            "LoRA SFT usually takes 1e-4 to 3e-4, DPO 5e-6 to 5e-5",
        )
        need(
            isinstance(self.epochs, int | float) and self.epochs > 0,
            "epochs",
            f"{self.epochs!r} is not a positive number.",
            "give epochs like 1 or 2.5, or set max_steps",
        )
        need(
            self.max_steps is None
            or (isinstance(self.max_steps, int) and not isinstance(self.max_steps, bool))
            and self.max_steps > 0,
            "max_steps",
            f"{self.max_steps!r} is not a positive whole number.",
            "leave it empty to train by epochs",
        )
        need(
            self.precision in PRECISIONS,
            "precision",
            f"{self.precision!r} is unknown.",
            "use fp32, bf16 or auto",
        )
        need(
            self.compile in COMPILES,
            "compile",
            f"{self.compile!r} is unknown.",
            "use auto, on or off",
        )
        need(
            self.grouping in GROUPINGS,
            "grouping",
            f"{self.grouping!r} is unknown.",
            "use length or none",
        )
        need(
            0 <= self.lora_dropout < 1,
            "lora_dropout",
            f"{self.lora_dropout!r} is not in [0, 1).",
            "0 (the default) or 0.05 are usual",
        )
        need(
            0 <= self.warmup_ratio < 1,
            "warmup_ratio",
            f"{self.warmup_ratio!r} is not in [0, 1).",
            "0.05 is usual",
        )
        need(
            self.prompt in PROMPTS,
            "prompt",
            f"{self.prompt!r} is unknown.",
            "use short (record only) or full (system prompt and tool schemas)",
        )
        need(
            isinstance(self.replay, int | float) and 0 <= self.replay <= 0.5,
            "replay",
            f"{self.replay!r} is not a share in [0, 0.5].",
            "0.1 mixes one general row in ten; 0 turns replay off",
        )
        need(
            not self.replay or self.method == "sft",
            "replay",
            "applies to SFT only (general rows have no chosen/rejected answers).",
            "set replay to 0 for DPO",
        )
        if self.replay:
            from training.replay import ReplayError, set_path

            try:
                set_path(self.replay_set)
            except ReplayError as exc:
                raise ConfigError("replay_set", str(exc)) from exc
        need(self.beta > 0, "beta", f"{self.beta!r} is not positive.", "DPO's beta is ~0.1")
        need(
            isinstance(self.seed, int) and not isinstance(self.seed, bool),
            "seed",
            f"{self.seed!r} is not a whole number.",
            "give any integer",
        )
        need(
            self.eval_every_steps >= 0 and self.eval_max_rows >= 0,
            "eval_every_steps",
            "is negative.",
            "use 0 to evaluate after each epoch only",
        )
        modules = self.target_modules
        need(
            modules == "all-linear"
            or (isinstance(modules, list) and modules and all(isinstance(m, str) for m in modules)),
            "target_modules",
            f"{modules!r} is neither 'all-linear' nor a list of module names.",
            'use "all-linear" or e.g. ["q_proj", "v_proj"]',
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                unknown[0],
                "is not a hyper-parameter.",
                hint=f"use only {', '.join(sorted(known))}",
            )
        try:
            return cls(**data)
        except TypeError as exc:  # a wrongly typed value caught by a comparison in validate()
            raise ConfigError("config", str(exc), hint="check the types of the values") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
