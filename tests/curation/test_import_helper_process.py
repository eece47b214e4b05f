"""Large files are read in a helper process: it must import exactly what the in-process
path imports, report the same errors, and leave nothing behind when it dies."""

import json
import multiprocessing
import os
import signal

import pytest

from curation import rowprep
from curation.imports import ImportFailed, ReaderCrashed, import_file
from curation.models import AuditEvent, Project, Record

pytestmark = pytest.mark.django_db

COLUMNS = (*rowprep.PREPARED_COLUMNS, "status", "source")


def records(project):
    return list(project.records.order_by("id").values_list(*COLUMNS))


@pytest.mark.parametrize(
    "name", ["alpaca_zh_demo.json", "glaive_toolcall_zh_demo.json", "dpo_zh_demo.json"]
)
def test_the_helper_process_imports_exactly_what_the_importing_process_does(
    project, shared_data, name
):
    other = Project.objects.create(slug="other", name="other", tools=project.tools)
    here = import_file(project, shared_data / name, actor=None, helper_process=False)
    there = import_file(other, shared_data / name, actor=None, helper_process=True)
    assert here.as_dict() | {"project": ""} == there.as_dict() | {"project": ""}
    assert here.imported > 0
    assert records(project) == records(other)


def test_errors_found_in_the_helper_process_name_their_line_and_write_nothing(project, tmp_path):
    path = tmp_path / "rows.jsonl"
    good = "".join(f'{{"instruction": "a{i}", "output": "b"}}\n' for i in range(3000))
    path.write_text(good + '{"instruction": "c"}\n')
    with pytest.raises(ImportFailed, match='line 3001: "output" is missing') as caught:
        import_file(project, path, actor=None, helper_process=True)
    assert [e["line"] for e in caught.value.report.errors] == [3001]
    assert not project.records.exists()

    report = import_file(project, path, actor=None, helper_process=True, skip_bad=True)
    assert (report.imported, [s["line"] for s in report.skipped]) == (3000, [3001])


def test_progress_from_the_helper_process_reaches_the_whole_file(project, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"instruction": "q{i}", "output": "a"}}\n' for i in range(9000)))
    seen = []
    import_file(
        project, path, actor=None, helper_process=True, on_progress=lambda f, n: seen.append((f, n))
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] == 1.0
    assert [n for _, n in seen] == [2000, 4000, 6000, 8000]


def test_a_killed_helper_process_fails_the_import_and_writes_nothing(project, tmp_path):
    path = tmp_path / "rows.json"
    rows = [{"instruction": f"问题 {i} " + "字" * 200, "output": "答"} for i in range(20000)]
    path.write_text(json.dumps(rows, ensure_ascii=False))

    def kill_the_reader(fraction, count):
        for child in multiprocessing.active_children():
            if child.name == "tunedesk-import-reader":
                os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(ReaderCrashed, match=r"reading rows.json stopped \(exit code -9\)"):
        import_file(project, path, actor=None, helper_process=True, on_progress=kill_the_reader)
    assert not Record.objects.filter(project=project).exists()
    assert not AuditEvent.objects.filter(project=project, action="import").exists()
    assert not [c for c in multiprocessing.active_children() if c.name.startswith("tunedesk")]
