"""The import service on mutated real files: everything or nothing is written, every row read
is accounted for, and what cannot be stored is refused with a typed error, never a crash."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from core.errors import CurationError
from curation.imports import ImportFailed, import_file, preview_file
from curation.models import AuditEvent, Project, Record

from .mutations import ODD_TEXT, SCALARS, Blob, fuzz_settings, mutated
from .seeds import READABLE, seed_list

pytestmark = pytest.mark.django_db

_projects = itertools.count()


def fresh_project() -> Project:
    """A project of its own per example, so earlier examples' rows are not duplicates."""
    n = next(_projects)
    return Project.objects.create(slug=f"fuzz-{n}", name=f"fuzz {n}", task_kind="chat")


@pytest.fixture
def actor(make_user):
    return make_user("fuzzer")


def counts(project: Project) -> tuple[int, int]:
    return (
        Record.objects.filter(project=project).count(),
        AuditEvent.objects.filter(project=project, action="import").count(),
    )


def crash(e: BaseException, data: bytes | None = None) -> AssertionError:
    path = data.save() if isinstance(data, Blob) else None
    return AssertionError(f"{type(e).__name__}: {str(e)[:300]} (input: {path})")


@fuzz_settings(40)
@given(data=st.data())
def test_an_import_writes_every_row_or_none(tmp_path, actor, data):
    fmt, _, seed = data.draw(st.sampled_from(seed_list()), label="seed")
    file = data.draw(mutated(seed), label="file")
    name = data.draw(st.sampled_from([fmt, fmt, None, *READABLE]), label="format")
    skip_bad = data.draw(st.booleans(), label="skip_bad")
    path = tmp_path / ("rows.csv" if fmt == "csv" else "rows.json")
    path.write_bytes(file)
    project = fresh_project()
    try:
        report = import_file(project, path, actor=actor, format_name=name, skip_bad=skip_bad)
    except ImportFailed as e:
        event("ImportFailed")
        assert counts(project) == (0, 0)
        assert e.report.errors and not e.report.ok
        assert all(error["message"] and error["line"] >= 0 for error in e.report.errors)
        assert str(e).startswith("Nothing was imported: "), str(e)
    except CurationError as e:
        event(type(e).__name__)
        assert counts(project) == (0, 0)
        assert e.message
    except Exception as e:
        raise crash(e, file) from e
    else:
        event("imported, some skipped" if report.skipped else "imported")
        assert counts(project) == (report.imported, 1)
        assert report.imported + report.duplicates + len(report.skipped) == report.read
        assert skip_bad or not report.skipped
        assert all(s["message"] for s in report.skipped)
    try:
        preview = preview_file(path, name)
    except CurationError:
        return
    except Exception as e:
        raise crash(e, file) from e
    assert len(preview.rows) + len(preview.errors) <= 20


TEXT = st.text(max_size=6) | st.sampled_from(ODD_TEXT)
ODD = st.builds(lambda a, odd, b: a + odd + b, TEXT, st.sampled_from(ODD_TEXT), TEXT)
CALLS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": ODD, "arguments": ODD | SCALARS}),
        }
    )
    | SCALARS,
    max_size=2,
)
MESSAGE = st.builds(
    lambda base, calls, extra: {**base, **calls, **extra},
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "tool"]) | ODD, "content": ODD | SCALARS}
    ),
    st.just({}) | st.builds(lambda c: {"tool_calls": c}, CALLS | SCALARS),
    st.dictionaries(ODD, SCALARS | ODD, max_size=1),
)
OBJECTS = {
    "alpaca": st.fixed_dictionaries(
        {"instruction": ODD, "output": ODD},
        optional={"input": ODD, "system": ODD, "history": st.lists(st.tuples(ODD, ODD).map(list))},
    ),
    "openai_chat": st.fixed_dictionaries(
        {"messages": st.lists(MESSAGE, min_size=1, max_size=3)},
        optional={"tools": st.lists(st.dictionaries(ODD, SCALARS | ODD, max_size=2), max_size=2)},
    ),
}


@fuzz_settings(60)
@given(data=st.data())
def test_rows_with_nul_surrogates_or_odd_numbers_are_stored_or_refused(tmp_path, actor, data):
    """Rows a reader accepts can be stored: NUL, unpaired surrogates, NaN and tool calls of
    any shape are stored or refused with a typed error, never a database or encoding error."""
    fmt = data.draw(st.sampled_from(sorted(OBJECTS)), label="format")
    objs = data.draw(st.lists(OBJECTS[fmt], min_size=1, max_size=4), label="rows")
    ascii_ = data.draw(st.booleans(), label="ensure_ascii")
    text = "".join(json.dumps(o, ensure_ascii=ascii_) + "\n" for o in objs)
    file = Blob(text.encode("utf-8", "surrogatepass"))
    path = tmp_path / "rows.jsonl"
    path.write_bytes(file)
    project = fresh_project()
    skip_bad = data.draw(st.booleans(), label="skip_bad")
    try:
        report = import_file(project, path, actor=actor, format_name=fmt, skip_bad=skip_bad)
    except CurationError as e:
        event(type(e).__name__)
        assert counts(project) == (0, 0)
        assert e.message
        return
    except Exception as e:
        raise crash(e, file) from e
    event("imported")
    assert counts(project) == (report.imported, 1)
    for record in Record.objects.filter(project=project):
        assert record.content_hash == record.compute_content_hash()  # reads back as written
