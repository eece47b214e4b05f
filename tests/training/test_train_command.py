"""`manage.py train`: the --json contract scripts rely on."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from curation.models import Record
from training.models import BaseModel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def dirs(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.RUNS_DIR = tmp_path / "data" / "runs"
    settings.JOBS_DIR = tmp_path / "data" / "jobs"
    settings.EXPORT_DIR = tmp_path / "data" / "exports"
    settings.MODEL_CACHE_DIR = tmp_path / "models"


@pytest.fixture
def accepted(project, glaive_records):
    for i, (messages, tools) in enumerate(glaive_records[:10]):
        Record.objects.create(
            project=project,
            kind="conversation",
            status=Record.Status.ACCEPTED,
            messages=messages,
            tools=tools,
            content_hash=f"h{i}",
        )


def test_inline_json_last_line_has_the_contract(project, people, accepted, tiny_model_dir):
    BaseModel.objects.create(name="tiny", kind="local", source=str(tiny_model_dir))
    out = io.StringIO()
    call_command(
        "train",
        "--project=shop",
        "--base-model=tiny",
        "--max-steps=2",
        "--batch-size=2",
        "--max-length=128",
        "--learning-rate=0.01",
        "--user=emil",
        "--inline",
        "--json",
        stdout=out,
    )
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["status"] == "succeeded", last
    required = ("run", "train_loss", "eval_loss", "train_seconds", "tokens_per_second", "rows")
    required += ("wall_seconds", "peak_rss_mb", "rows_per_second")
    assert set(required) <= set(last)
    assert math.isfinite(last["train_loss"]) and last["tokens_per_second"] > 0
    assert last["rows"] >= 1 and Path(last["adapter_path"], "adapter_model.safetensors").is_file()
    # The whole child (importing torch, loading, tokenising, evaluating, saving) takes longer
    # than its two optimizer steps; a child that has imported torch holds well over 50 MB.
    assert 0 < last["train_seconds"] < last["wall_seconds"]
    assert last["peak_rss_mb"] > 50
    assert last["tokens_per_second"] > 0 and last["rows_per_second"] > 0
    # real tokens per loop second: at most the padded batches' tokens in that time
    assert last["tokens_per_second"] * last["train_seconds"] <= 2 * 2 * 128 * 1.01


def test_an_unknown_base_model_names_the_known_ones(project, people):
    with pytest.raises(CommandError, match="smollm2-135m-instruct"):
        call_command("train", "--project=shop", "--base-model=nope", "--user=emil")


def test_a_reviewer_cannot_train(project, people, accepted, tiny_model_dir):
    BaseModel.objects.create(name="tiny", kind="local", source=str(tiny_model_dir))
    with pytest.raises(CommandError, match="Only engineers"):
        call_command("train", "--project=shop", "--base-model=tiny", "--user=rita")
