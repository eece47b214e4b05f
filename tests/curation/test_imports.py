"""Importing files: every real file completely, bad input with a clear message and nothing
written, skipped rows reported, duplicates counted, tool-call problems flagged."""

import json

import pytest

from core.errors import InvalidInput
from curation.imports import ImportFailed, import_file, preview_file
from curation.models import AuditEvent, Record

pytestmark = pytest.mark.django_db

REAL = [
    ("alpaca_zh_demo.json", "alpaca", 1000),
    ("glaive_toolcall_zh_demo.json", "sharegpt", 300),
    ("dpo_zh_demo.json", "sharegpt", 300),
]

# name, file bytes, expected message (regex), options
BAD_INPUT = [
    ("non-utf8", "rows.jsonl", b'{"instruction": "\xff\xfe", "output": "b"}\n', r"not UTF-8", {}),
    (
        "truncated",
        "rows.json",
        b'[{"instruction": "a", "output": "b"}, {"instruction": "c", "out',
        r"line 1 \(record 1\).*truncated JSON",
        {},
    ),
    (
        "trailing-comma",
        "rows.json",
        b'[\n{"instruction": "a", "output": "b"},\n]\n',
        r"line 2 \(record 0\).*trailing comma",
        {},
    ),
    ("empty", "rows.json", b"", r"rows.json is empty", {}),
    (
        "csv-missing-column",
        "rows.csv",
        b"question,answer\nq,a\n",
        r'column "instruction" for "instruction" is missing',
        {"format_name": "csv"},
    ),
]


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_nothing_written(project):
    assert not Record.objects.filter(project=project).exists()
    assert not AuditEvent.objects.filter(project=project, action="import").exists()


@pytest.mark.parametrize("name,fmt,rows", REAL)
def test_imports_every_row_of_the_real_files(project, shared_data, name, fmt, rows):
    report = import_file(project, shared_data / name, actor=None, dedup=False)
    assert (report.format, report.detected, report.read, report.imported) == (fmt, fmt, rows, rows)
    assert project.records.count() == rows


@pytest.mark.parametrize("name,fmt,rows", REAL)
def test_counts_exact_duplicates_instead_of_importing_them(project, shared_data, name, fmt, rows):
    distinct = len(
        {json.dumps(r, sort_keys=True) for r in json.loads((shared_data / name).read_text())}
    )
    report = import_file(project, shared_data / name, actor=None)
    assert report.read == rows
    assert (report.imported, report.duplicates) == (distinct, rows - distinct)
    again = import_file(project, shared_data / name, actor=None)
    assert (again.imported, again.duplicates) == (0, rows)


@pytest.mark.parametrize("case,name,data,message,options", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_gets_a_clear_message_and_writes_nothing(
    project, tmp_path, case, name, data, message, options
):
    with pytest.raises(InvalidInput, match=message):
        import_file(project, write(tmp_path, name, data), actor=None, **options)
    assert_nothing_written(project)


def test_a_file_over_the_size_limit_is_refused_before_reading(project, tmp_path, settings):
    settings.TUNEDESK_MAX_UPLOAD_MB = 1
    row = json.dumps({"instruction": "问" * 100, "output": "答"}, ensure_ascii=False)
    path = write(tmp_path, "big.jsonl", ((row + "\n") * 4000).encode())
    with pytest.raises(InvalidInput, match=r"big.jsonl is \d+ MB, over the 1 MB limit"):
        import_file(project, path, actor=None)
    assert_nothing_written(project)


def test_one_bad_row_stops_the_import_and_names_its_line(project, tmp_path):
    data = (
        b'{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n'
        b'{"instruction": "d", "output": "e"}\n'
    )
    with pytest.raises(ImportFailed, match='line 2: "output" is missing') as caught:
        import_file(project, write(tmp_path, "rows.jsonl", data), actor=None)
    assert [e["line"] for e in caught.value.report.errors] == [2]
    assert_nothing_written(project)


def test_reports_at_most_fifty_errors(project, tmp_path):
    data = b'{"instruction": "c"}\n' * 60
    with pytest.raises(ImportFailed) as caught:
        import_file(project, write(tmp_path, "rows.jsonl", data), actor=None)
    assert len(caught.value.report.errors) == 50
    assert caught.value.report.more_errors


def test_skip_bad_imports_the_good_rows_and_reports_every_skipped_one(project, tmp_path):
    data = (
        b'{"instruction": "a", "output": "b"}\n{"instruction": "c"}\nnot json\n'
        b'{"instruction": "d", "output": "e"}\n'
    )
    report = import_file(project, write(tmp_path, "rows.jsonl", data), actor=None, skip_bad=True)
    assert report.imported == 2
    assert [s["line"] for s in report.skipped] == [2, 3]
    assert sorted(project.records.values_list("instruction", flat=True)) == ["a", "d"]


def test_preview_shows_the_detected_format_and_writes_nothing(project, shared_data):
    preview = preview_file(shared_data / "glaive_toolcall_zh_demo.json", limit=5)
    assert (preview.format, preview.detected, preview.task_kind) == (
        "sharegpt",
        True,
        "tool_calling",
    )
    assert len(preview.rows) == 5 and preview.reason
    assert_nothing_written(project)


def test_a_named_format_is_used_as_is(project, tmp_path):
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    data = json.dumps({"messages": messages}).encode()
    report = import_file(
        project, write(tmp_path, "c.jsonl", data), actor=None, format_name="openai_chat"
    )
    assert (report.format, report.detected) == ("openai_chat", "")
    assert project.records.get().messages[1]["content"] == "yo"


def test_an_export_only_format_cannot_be_imported(project, tmp_path):
    with pytest.raises(InvalidInput, match="exported but not imported"):
        import_file(
            project,
            write(tmp_path, "t.jsonl", b'{"text": "x"}\n'),
            actor=None,
            format_name="template_text",
        )


def test_tool_call_problems_are_flagged_not_dropped(project, tmp_path):
    call = {"name": "check_price", "arguments": {"product": "茶"}}  # not a project tool
    row = {
        "conversations": [
            {"from": "human", "value": "多少钱?"},
            {"from": "function_call", "value": json.dumps(call, ensure_ascii=False)},
        ]
    }
    path = write(tmp_path, "t.json", json.dumps([row], ensure_ascii=False).encode())
    report = import_file(project, path, actor=None)
    record = project.records.get()
    assert report.flagged == 1 and record.has_problems
    assert record.tool_name == "check_price"
    assert "check_price" in json.dumps(record.problems, ensure_ascii=False)


def test_imported_records_take_the_chosen_status_and_the_file_name_as_source(project, tmp_path):
    path = write(tmp_path, "curated.jsonl", b'{"instruction": "a", "output": "b"}\n')
    import_file(project, path, actor=None, status=Record.Status.ACCEPTED)
    record = project.records.get()
    assert (record.status, record.source, record.source_index) == ("accepted", "curated.jsonl", 0)
    assert record.submitted_at is not None
    assert record.content_hash == record.compute_content_hash()


def test_csv_columns_can_be_mapped(project, tmp_path):
    path = write(tmp_path, "qa.csv", "question,answer,topic\n问,答,茶\n".encode())
    report = import_file(
        project,
        path,
        actor=None,
        format_name="csv",
        mapping={"instruction": "question", "output": "answer"},
    )
    record = project.records.get()
    assert report.imported == 1
    assert (record.instruction, record.output, record.extra) == ("问", "答", {"topic": "茶"})
