"""The import service on the real files of ../shared/data, whole, each mutated anywhere (a
record in the middle as likely as the first): every file is imported whole, or refused with a
clear message and nothing written. Seeded and bounded (FUZZ_EXAMPLES=300 runs deeper), and
it prints its tally: files tried / imported / refused / crashed / partial writes."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import CurationError
from curation.imports import ImportFailed, import_file

from .mutations import fuzz_settings, mutated
from .seeds import DATA
from .test_imports import counts, fresh_project

pytestmark = pytest.mark.django_db
REAL_FILES = sorted(p.name for p in DATA.glob("*.json"))


def test_mutated_real_files_are_imported_whole_or_refused_clearly(tmp_path, make_user):
    actor = make_user("fuzzer")
    real = {name: (DATA / name).read_bytes() for name in REAL_FILES}
    tally = collections.Counter()
    problems: list[str] = []

    @fuzz_settings(15)
    @given(data=st.data())
    def fuzz(data):
        name = data.draw(st.sampled_from(REAL_FILES), label="file")
        file = data.draw(mutated(real[name]), label="mutated")
        skip_bad = data.draw(st.booleans(), label="skip_bad")
        path = tmp_path / name
        path.write_bytes(file)
        project = fresh_project()
        tally["tried"] += 1
        try:
            report = import_file(project, path, actor=actor, skip_bad=skip_bad)
        except (ImportFailed, CurationError) as e:
            tally["refused"] += 1
            if counts(project) != (0, 0):
                tally["partial writes"] += 1
                problems.append(f"{name}: refused but {counts(project)} written ({file.save()})")
            if not (e.message and (not isinstance(e, ImportFailed) or e.report.errors)):
                problems.append(f"{name}: refused without a message ({file.save()})")
            return
        except Exception as e:
            tally["crashed"] += 1
            problems.append(f"{name}: {type(e).__name__}: {str(e)[:200]} ({file.save()})")
            return
        tally["imported"] += 1
        if counts(project) != (report.imported, 1):
            tally["partial writes"] += 1
            problems.append(f"{name}: reported {report.imported}, wrote {counts(project)}")
        if report.imported + report.duplicates + len(report.skipped) != report.read:
            problems.append(f"{name}: rows unaccounted for ({file.save()})")

    fuzz()
    print(
        "real-file fuzzer: "
        + ", ".join(
            f"{tally[k]} {k}" for k in ("tried", "imported", "refused", "crashed", "partial writes")
        )
    )
    assert tally["tried"] > 0
    assert not problems, "\n".join(problems)
