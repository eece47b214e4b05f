"""The import_records and export_records commands: a JSON summary as the last line, clear
failures with a non-zero exit and nothing written, and a start-up free of ML libraries."""

import hashlib
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from curation.models import Project, Record

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.EXPORT_DIR = tmp_path / "exports"
    return tmp_path


def run(*args) -> tuple[dict, str]:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    lines = out.getvalue().strip().splitlines()
    return json.loads(lines[-1]), out.getvalue()


def test_import_creates_the_project_with_the_guessed_task_kind(shared_data):
    path = shared_data / "glaive_toolcall_zh_demo.json"
    summary, text = run("import_records", str(path), "--project", "tools", "--create", "--json")
    project = Project.objects.get(slug="tools")
    assert project.task_kind == "tool_calling"
    assert summary["created_project"] and summary["format"] == "sharegpt"
    assert summary["read"] == 300
    assert summary["imported"] + summary["duplicates"] == 300
    assert project.records.count() == summary["imported"]
    assert "Detected format sharegpt" in text


def test_import_sets_the_status_and_can_keep_duplicates(project, shared_data):
    path = shared_data / "alpaca_zh_demo.json"
    summary, _ = run(
        "import_records", str(path), "--project", "shop", "--status", "accepted",
        "--keep-duplicates", "--json",
    )  # fmt: skip
    assert summary["imported"] == 1000
    assert set(project.records.values_list("status", flat=True)) == {"accepted"}


BAD = [
    ("bad.jsonl", b'{"instruction": "\xff", "output": "b"}\n', "not UTF-8", []),
    ("cut.json", b'[{"instruction": "a", "output": "b"}, {"in', "truncated JSON", []),
    ("comma.json", b'[{"instruction": "a", "output": "b"},\n]', "trailing comma", []),
    ("empty.json", b"", "empty.json is empty", []),
    ("rows.csv", b"question,answer\nq,a\n", 'column "instruction"', ["--format", "csv"]),
]


@pytest.mark.parametrize("name,data,message,extra", BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_with_the_message_and_writes_nothing(
    project, tmp_path, name, data, message, extra
):
    path = tmp_path / name
    path.write_bytes(data)
    out = StringIO()
    with pytest.raises(CommandError, match=message):
        call_command(
            "import_records",
            str(path),
            "--project",
            "shop",
            "--json",
            *extra,
            stdout=out,
            stderr=StringIO(),
        )
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["ok"] is False and message in summary["error"]["message"]
    assert not Record.objects.exists()


def test_a_file_over_the_limit_fails(project, tmp_path, settings):
    settings.TUNEDESK_MAX_UPLOAD_MB = 1
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"instruction": "a", "output": "b"}\n' * 40000)
    with pytest.raises(CommandError, match="over the 1 MB limit"):
        call_command("import_records", str(path), "--project", "shop", stdout=StringIO())
    assert not Record.objects.exists()


def test_a_failed_create_leaves_no_project(tmp_path):
    path = tmp_path / "cut.json"
    path.write_bytes(b'[{"instruction": "a", "output": "b"}, {"in')
    with pytest.raises(CommandError):
        call_command("import_records", str(path), "--project", "new", "--create", stdout=StringIO())
    assert not Project.objects.filter(slug="new").exists()


def test_export_writes_the_split_and_reports_its_sha256(project, shared_data, tmp_path):
    run("import_records", str(shared_data / "alpaca_zh_demo.json"), "--project", "shop",
        "--status", "accepted", "--json")  # fmt: skip
    out = tmp_path / "out" / "train.jsonl"
    summary, _ = run(
        "export_records", "--project", "shop", "--format", "alpaca", "--out", str(out),
        "--split", "train", "--json",
    )  # fmt: skip
    assert summary["ok"] and summary["out"] == [str(out)]
    assert summary["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert summary["counts"]["train"] == len(out.read_text().splitlines())
    assert summary["counts"]["train"] + summary["counts"]["test"] == 992


def test_export_to_a_directory_copies_the_whole_snapshot(project, shared_data, tmp_path):
    run("import_records", str(shared_data / "dpo_zh_demo.json"), "--project", "shop",
        "--status", "accepted", "--json")  # fmt: skip
    out = tmp_path / "snap"
    summary, _ = run(
        "export_records", "--project", "shop", "--format", "sharegpt", "--out", f"{out}/", "--json"
    )
    names = {p.name for p in out.iterdir()}
    assert {"train.jsonl", "test.jsonl", "all.jsonl", "manifest.json", "dataset_info.json"} <= names
    assert json.loads((out / "manifest.json").read_text())["snapshot"] == summary["snapshot"]


def test_an_export_that_does_not_fit_fails_with_every_error(project, shared_data, tmp_path):
    run("import_records", str(shared_data / "glaive_toolcall_zh_demo.json"), "--project", "shop",
        "--status", "accepted", "--json")  # fmt: skip
    out = StringIO()
    with pytest.raises(CommandError, match="cannot be written as alpaca"):
        call_command("export_records", "--project", "shop", "--format", "alpaca",
                     "--out", str(tmp_path / "x.jsonl"), "--json",
                     stdout=out, stderr=StringIO())  # fmt: skip
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["ok"] is False and len(summary["errors"]) == 50
    assert not (tmp_path / "x.jsonl").exists()


def test_the_commands_start_without_ml_libraries():
    code = (
        "import django, sys; django.setup();"
        "import curation.management.commands.import_records,"
        " curation.management.commands.export_records, curation.imports, curation.exports;"
        "print([m for m in ('torch', 'transformers', 'datasets', 'trl') if m in sys.modules])"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
