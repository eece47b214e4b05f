"""Large exports write their files in a helper process: the snapshot must be byte for byte
what the exporting process writes itself, fail the same way, and leave nothing behind
(no files, no snapshot, no locked split) when the helper dies."""

import multiprocessing
import os
import signal

import pytest

from curation import exports
from curation.exports import (
    ExportFailed,
    WriterCrashed,
    create_snapshot,
    snapshot_dir,
    snapshot_file,
)
from curation.imports import import_file
from curation.models import ExportSnapshot, Project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.EXPORT_DIR = tmp_path / "exports"
    return tmp_path


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("alpaca_zh_demo.json", "alpaca"),
        ("glaive_toolcall_zh_demo.json", "sharegpt"),
        ("glaive_toolcall_zh_demo.json", "openai_chat"),
        ("alpaca_zh_demo.json", "template_text"),
    ],
)
def test_the_helper_process_writes_what_the_exporting_process_writes(
    project, shared_data, name, fmt
):
    other = Project.objects.create(
        slug="other", name="other", task_kind=project.task_kind, tools=project.tools
    )
    for p in (project, other):
        import_file(p, shared_data / name, actor=None, status="accepted", dedup=False)
    here = create_snapshot(project, None, format_name=fmt, helper_process=False)
    there = create_snapshot(other, None, format_name=fmt, helper_process=True)
    assert here.counts == there.counts and here.counts["all"] > 0
    for split in ("train", "test", "all"):
        assert snapshot_file(here, split).read_bytes() == snapshot_file(there, split).read_bytes()
    assert [f["sha256"] for f in here.files] == [f["sha256"] for f in there.files]
    assert here.manifest["dataset_info"] == there.manifest["dataset_info"]
    assert sorted(p.name for p in snapshot_dir(there).iterdir()) == sorted(
        p.name for p in snapshot_dir(here).iterdir()
    )  # the helper's spool file is gone
    assert sorted(project.records.values_list("split", flat=True)) == sorted(
        other.records.values_list("split", flat=True)
    )


def test_a_second_export_in_the_helper_keeps_the_first_ones_splits(project, shared_data):
    other = Project.objects.create(
        slug="other", name="other", task_kind=project.task_kind, tools=project.tools
    )
    snapshots = []
    for p, helper in ((project, False), (other, True)):
        import_file(p, shared_data / "alpaca_zh_demo.json", actor=None, status="accepted")
        pks = list(p.records.values_list("pk", flat=True))
        p.records.filter(pk__in=pks[::3]).update(status="new")
        create_snapshot(p, None, format_name="alpaca", test_ratio=0.1, seed=4)
        first = dict(p.records.exclude(split="").values_list("pk", "split"))
        p.records.update(status="accepted")
        snapshots.append(
            create_snapshot(
                p, None, format_name="alpaca", test_ratio=0.3, seed=4, helper_process=helper
            )
        )
        assert dict(p.records.filter(pk__in=first).values_list("pk", "split")) == first
    here, there = snapshots
    assert here.counts == there.counts
    assert here.counts["test"] == int(here.counts["all"] * 0.3 + 0.5)
    for split in ("train", "test", "all"):
        assert snapshot_file(here, split).read_bytes() == snapshot_file(there, split).read_bytes()
    assert sorted(project.records.values_list("source_index", "split")) == sorted(
        other.records.values_list("source_index", "split")
    )


def test_rows_the_format_cannot_hold_fail_the_export_in_the_helper_too(
    project, shared_data, data_dir
):
    import_file(
        project, shared_data / "glaive_toolcall_zh_demo.json", actor=None, status="accepted"
    )
    with pytest.raises(ExportFailed, match="the row has tools, which alpaca cannot hold") as caught:
        create_snapshot(project, None, format_name="alpaca", helper_process=True)
    assert len(caught.value.errors) == 50 and caught.value.more
    assert not ExportSnapshot.objects.exists()
    assert not any((data_dir / "exports" / project.slug).iterdir())
    assert not project.records.exclude(split="").exists()


def test_a_killed_helper_process_fails_the_export_and_leaves_nothing(
    project, shared_data, data_dir, monkeypatch
):
    import_file(project, shared_data / "alpaca_zh_demo.json", actor=None, status="accepted")
    chunks = exports._value_chunks

    def kill_the_writer_midway(records):
        for i, chunk in enumerate(chunks(records)):
            if i == 1:
                for child in multiprocessing.active_children():
                    if child.name == "tunedesk-export-writer":
                        os.kill(child.pid, signal.SIGKILL)
                        child.join()
            yield chunk

    monkeypatch.setattr(exports, "CHUNK", 200)
    monkeypatch.setattr(exports, "_value_chunks", kill_the_writer_midway)
    with pytest.raises(WriterCrashed, match=r"stopped \(exit code -9\)"):
        create_snapshot(project, None, format_name="alpaca", helper_process=True)
    assert not ExportSnapshot.objects.exists()
    assert not any((data_dir / "exports" / project.slug).iterdir())
    assert not project.records.exclude(split="").exists()
    assert not [c for c in multiprocessing.active_children() if c.name.startswith("tunedesk")]
