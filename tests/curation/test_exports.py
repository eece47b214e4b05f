"""Export snapshots: lossless files in the import's own format, a manifest with checksums,
a seeded split that is stratified and never changes once exported, corrected drafts as
preference pairs, all-or-nothing when a row does not fit the format, and tool schemas in
the rows of tool-calling exports."""

import hashlib
import json
from collections import Counter

import pytest

from core.errors import InvalidInput
from curation.exports import ExportFailed, create_snapshot, snapshot_dir, snapshot_file
from curation.imports import import_file
from curation.models import Draft, ExportSnapshot, Record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.EXPORT_DIR = tmp_path / "exports"
    return tmp_path


def jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def add(project, n: int, **fields):
    from curation.formats.base import Row
    from curation.rows import row_to_record

    records = [
        row_to_record(
            Row(instruction=f"问题 {i} {fields.get('tag', '')}", input="", output=f"答 {i}"),
            project,
            status=fields.get("status", "accepted"),
        )
        for i in range(n)
    ]
    return Record.objects.bulk_create(records)


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("alpaca_zh_demo.json", "alpaca"),
        ("glaive_toolcall_zh_demo.json", "sharegpt"),
        ("dpo_zh_demo.json", "sharegpt"),
    ],
)
def test_real_files_export_back_unchanged_in_their_own_format(project, shared_data, name, fmt):
    project.tools = []  # rows without tools of their own would get the project's
    project.save()
    import_file(project, shared_data / name, actor=None, dedup=False, status="accepted")
    snapshot = create_snapshot(project, None, format_name=fmt, test_ratio=0)
    original = json.loads((shared_data / name).read_text(encoding="utf-8"))
    assert jsonl(snapshot_file(snapshot, "all")) == original
    assert snapshot.counts == {"train": len(original), "test": 0, "all": len(original)}


def test_manifest_names_format_split_counts_and_checksums(project, people):
    add(project, 40)
    snapshot = create_snapshot(
        project, people["engineer"], format_name="alpaca", test_ratio=0.25, seed=7
    )
    manifest = json.loads((snapshot_dir(snapshot) / "manifest.json").read_text())
    assert manifest["format"] == "alpaca" and manifest["tunedesk_version"]
    assert manifest["split"]["seed"] == 7
    assert manifest["split"]["ratios"] == {"train": 0.75, "test": 0.25}
    assert manifest["counts"] == {"train": 30, "test": 10, "all": 40}
    assert manifest["created_by"] == "emil"
    for entry in manifest["files"]:
        data = (snapshot_dir(snapshot).parent.parent.parent / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert data.count(b"\n") == entry["rows"]
    assert snapshot.files == manifest["files"]


def test_writes_a_llama_factory_dataset_info_next_to_the_files(project):
    add(project, 10)
    snapshot = create_snapshot(project, None, format_name="alpaca", test_ratio=0.2)
    info = json.loads((snapshot_dir(snapshot) / "dataset_info.json").read_text())
    entry = info[f"shop_{snapshot.pk}_train"]
    assert entry["file_name"] == "train.jsonl"
    assert entry["columns"]["prompt"] == "instruction"


def test_a_record_keeps_its_split_once_exported(project):
    add(project, 50)
    first = create_snapshot(project, None, format_name="alpaca", test_ratio=0.2, seed=1)
    before = dict(project.records.values_list("pk", "split"))
    assert all(project.records.values_list("split_locked", flat=True))
    add(project, 50, tag="new")
    second = create_snapshot(project, None, format_name="alpaca", test_ratio=0.5, seed=99)
    after = dict(project.records.values_list("pk", "split"))
    assert all(after[pk] == split for pk, split in before.items())
    assert first.counts["test"] == 10
    # The new records top the test share up to half of all records.
    assert second.counts == {"train": 50, "test": 50, "all": 100}


def test_records_are_read_in_id_order_in_chunks_with_what_rows_and_splits_need(
    project, monkeypatch
):
    from curation import exports
    from curation.export_writer import RowBuilder
    from curation.rows import record_to_row

    records = add(project, 25)
    Record.objects.filter(pk=records[3].pk).update(split="test", tools=[{"type": "function"}])
    monkeypatch.setattr(exports, "CHUNK", 10)
    chunks = list(exports._value_chunks(project.records.order_by("-pk")))
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    values = [item for chunk in chunks for item in chunk]
    rows = [row for _, row in RowBuilder().rows(values)]
    expected = list(project.records.order_by("pk"))
    assert rows == [record_to_row(r) for r in expected]
    assert [item[-4:] for item in values] == [
        (r.pk, r.split, r.content_hash, r.tool_name) for r in expected
    ]


def test_the_test_share_goes_to_the_records_ranked_first_by_seed_and_content_hash(project):
    add(project, 30)
    create_snapshot(project, None, format_name="alpaca", test_ratio=0.2, seed=5)
    ranked = sorted(
        project.records.values_list("pk", "content_hash"),
        key=lambda r: (hashlib.blake2b(f"5:{r[1]}".encode(), digest_size=8).digest(), r[0]),
    )
    assert set(project.records.filter(split="test").values_list("pk", flat=True)) == {
        pk for pk, _ in ranked[:6]
    }


def test_a_split_given_before_the_first_export_is_kept_and_counted(project):
    records = add(project, 20)
    Record.objects.filter(pk__in=[r.pk for r in records[:4]]).update(split="test")
    Record.objects.filter(pk__in=[r.pk for r in records[4:8]]).update(split="train")
    snapshot = create_snapshot(project, None, format_name="alpaca", test_ratio=0.5)
    splits = dict(project.records.values_list("pk", "split"))
    assert [splits[r.pk] for r in records[:8]] == ["test"] * 4 + ["train"] * 4
    assert snapshot.counts == {"train": 10, "test": 10, "all": 20}
    assert not project.records.filter(split_locked=False).exists()


def test_the_split_is_the_same_for_the_same_seed_and_records(project, people, make_user):
    from curation.models import Project

    other = Project.objects.create(slug="copy", name="copy", task_kind=project.task_kind)
    add(project, 60)
    add(other, 60)
    splits = []
    for p in (project, other):
        create_snapshot(p, None, format_name="alpaca", test_ratio=0.2, seed=3)
        splits.append(sorted(p.records.filter(split="test").values_list("instruction", flat=True)))
    assert splits[0] == splits[1]
    other.records.update(split="", split_locked=False)
    create_snapshot(other, None, format_name="alpaca", test_ratio=0.2, seed=4)
    assert (
        sorted(other.records.filter(split="test").values_list("instruction", flat=True))
        != (splits[0])
    )


def test_a_large_test_split_is_written_in_chunks_with_the_same_result(project, monkeypatch):
    from curation import exports
    from curation.models import Project

    other = Project.objects.create(slug="copy", name="copy", task_kind=project.task_kind)
    add(project, 40)
    add(other, 40)
    create_snapshot(project, None, format_name="alpaca", test_ratio=0.5, seed=1)
    monkeypatch.setattr(exports, "MAX_IN_LIST", 3)  # 20 test records: 7 statements
    create_snapshot(other, None, format_name="alpaca", test_ratio=0.5, seed=1)
    for p in (project, other):
        assert p.records.filter(split="test").count() == 20
        assert not p.records.filter(split_locked=False).exists()
    assert sorted(project.records.values_list("instruction", "split")) == sorted(
        other.records.values_list("instruction", "split")
    )


def test_tool_calling_projects_split_each_tool_in_proportion(project, shared_data):
    import_file(
        project, shared_data / "glaive_toolcall_zh_demo.json", actor=None, status="accepted"
    )
    create_snapshot(project, None, format_name="sharegpt", test_ratio=0.2)
    by_tool = Counter(project.records.values_list("tool_name", flat=True))
    in_test = Counter(project.records.filter(split="test").values_list("tool_name", flat=True))
    for tool, n in by_tool.items():
        assert in_test[tool] == int(n * 0.2 + 0.5), tool


def test_snapshots_are_never_rewritten(project):
    add(project, 10)
    first = create_snapshot(project, None, format_name="alpaca", test_ratio=0)
    data = snapshot_file(first, "all").read_bytes()
    project.records.update(output="changed")
    second = create_snapshot(project, None, format_name="alpaca", test_ratio=0)
    assert snapshot_file(first, "all").read_bytes() == data
    assert snapshot_dir(first) != snapshot_dir(second)
    assert b"changed" in snapshot_file(second, "all").read_bytes()


def test_a_row_the_format_cannot_hold_fails_the_whole_export(project, shared_data, data_dir):
    import_file(
        project, shared_data / "glaive_toolcall_zh_demo.json", actor=None, status="accepted"
    )
    with pytest.raises(ExportFailed, match="the row has tools, which alpaca cannot hold") as caught:
        create_snapshot(project, None, format_name="alpaca")
    assert len(caught.value.errors) == 50 and caught.value.more
    assert not ExportSnapshot.objects.exists()
    assert not any((data_dir / "exports" / project.slug).iterdir())
    assert not project.records.exclude(split="").exists()  # no split was locked either


def test_only_the_chosen_statuses_are_exported(project):
    add(project, 3, status="accepted")
    add(project, 2, status="new", tag="n")
    snapshot = create_snapshot(project, None, format_name="alpaca", status=["new"], test_ratio=0)
    assert snapshot.counts["all"] == 2
    with pytest.raises(InvalidInput, match="no records match"):
        create_snapshot(project, None, format_name="alpaca", status=["submitted"])


def test_unknown_formats_and_bad_ratios_are_refused(project):
    add(project, 2)
    with pytest.raises(InvalidInput, match="csv"):
        create_snapshot(project, None, format_name="csv")
    with pytest.raises(InvalidInput, match="test ratio"):
        create_snapshot(project, None, format_name="alpaca", test_ratio=1.5)


def test_corrected_drafts_become_preference_pairs(project):
    corrected, same, undrafted = add(project, 3)
    Draft.objects.create(record=corrected, model_name="m", text="模型的错答", parse_status="text")
    Draft.objects.create(record=same, model_name="m", text=same.output, parse_status="text")
    snapshot = create_snapshot(project, None, format_name="alpaca_preference", test_ratio=0)
    rows = jsonl(snapshot_file(snapshot, "all"))
    assert rows == [
        {
            "instruction": corrected.instruction,
            "input": "",
            "chosen": corrected.output,
            "rejected": "模型的错答",
        }
    ]
    assert snapshot.manifest["left_out"]["records"] == [same.pk, undrafted.pk]


def test_a_corrected_tool_call_draft_is_the_rejected_answer(project):
    messages = [
        {"role": "user", "content": "绿茶有货吗?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "check_stock", "arguments": '{"product": "绿茶"}'},
                }
            ],
        },
    ]
    from curation.formats.base import Row
    from curation.rows import row_to_record

    record = row_to_record(Row(kind="conversation", messages=messages), project, status="accepted")
    record.save()
    Draft.objects.create(
        record=record,
        model_name="m",
        parse_status="tool_calls",
        tool_calls=[{"function": {"name": "check_stock", "arguments": {"product": "红茶"}}}],
    )
    snapshot = create_snapshot(project, None, format_name="messages_preference", test_ratio=0)
    (row,) = jsonl(snapshot_file(snapshot, "all"))
    assert row["messages"] == messages[:1]
    assert row["chosen"] == messages[1]
    assert row["rejected"]["tool_calls"][0]["function"] == {
        "name": "check_stock",
        "arguments": '{"product": "红茶"}',
    }


def test_template_text_uses_the_project_template(project):
    add(project, 1)
    project.prompt_template = "Q: {instruction}\nA: {response}"
    snapshot = create_snapshot(project, None, format_name="template_text", test_ratio=0)
    assert jsonl(snapshot_file(snapshot, "all")) == [{"text": "Q: 问题 0 \nA: 答 0"}]


def test_an_export_is_audited(project, people):
    from curation.models import AuditEvent

    add(project, 2)
    snapshot = create_snapshot(project, people["engineer"], format_name="openai_chat", test_ratio=0)
    event = AuditEvent.objects.get(action="export")
    assert (event.actor, event.target) == (people["engineer"], f"snapshot #{snapshot.pk}")


# --- tool schemas in tool-calling exports ---------------------------------------------------


@pytest.fixture
def demo(project, shared_data):
    """The glaive demo imported with its tools moved to the project (as the demo project
    keeps them), plus one row that keeps its own."""
    import_file(
        project,
        shared_data / "glaive_toolcall_zh_demo.json",
        actor=None,
        dedup=False,
        status="accepted",
    )
    records = list(project.records.order_by("pk"))
    own = records[0].tools
    project.records.exclude(pk=records[0].pk).update(tools=None)
    return records[0].pk, own


def snapshot_json(snapshot, name):
    return json.loads((snapshot_dir(snapshot) / name).read_text(encoding="utf-8"))


def test_sharegpt_rows_carry_tools_as_a_json_string_mapped_in_dataset_info(project, demo):
    first, own = demo
    snapshot = create_snapshot(project, None, format_name="sharegpt", test_ratio=0)
    written = jsonl(snapshot_file(snapshot, "all"))
    assert all(isinstance(row["tools"], str) for row in written)
    names = [t["name"] for t in json.loads(written[1]["tools"])]
    assert names == ["check_stock"]  # the project's
    assert [t["name"] for t in json.loads(written[0]["tools"])] == [
        t.get("function", t)["name"] for t in own
    ]
    [entry] = snapshot_json(snapshot, "dataset_info.json").values()
    assert entry["columns"]["tools"] == "tools"
    manifest = snapshot_json(snapshot, "manifest.json")
    assert manifest["tools"]["included"] is True
    assert "JSON string" in manifest["tools"]["field"]


def test_openai_chat_rows_carry_tools_as_a_list(project, demo):
    snapshot = create_snapshot(project, None, format_name="openai_chat", test_ratio=0)
    written = jsonl(snapshot_file(snapshot, "all"))
    assert all(isinstance(row["tools"], list) and row["tools"] for row in written)
    assert written[1]["tools"] == project.tools


def test_an_option_leaves_every_tool_schema_out(project, demo):
    snapshot = create_snapshot(project, None, format_name="sharegpt", test_ratio=0, tools=False)
    assert not any("tools" in row for row in jsonl(snapshot_file(snapshot, "all")))
    [entry] = snapshot_json(snapshot, "dataset_info.json").values()
    assert "tools" not in entry["columns"]
    manifest = snapshot_json(snapshot, "manifest.json")
    assert manifest["tools"]["included"] is False
    assert "left out" in manifest["tools"]["reason"]


def test_the_hugging_face_copy_carries_the_same_tools(project, demo):
    import datasets

    snapshot = create_snapshot(
        project, None, format_name="openai_chat", test_ratio=0, datasets=True
    )
    saved = datasets.load_from_disk(str(snapshot_dir(snapshot) / "hf_dataset"))
    assert saved["train"][1]["tools"] == project.tools
