"""Every reader and the detector, on mutated real files: rows or a located FormatError, never
another exception (KeyError, TypeError, RecursionError, UnicodeDecodeError, ...)."""

from __future__ import annotations

import io
from contextlib import contextmanager

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from curation.formats import FORMATS
from curation.formats.base import FormatError, Row
from curation.formats.detect import Detection, detect
from curation.formats.jsonio import open_text
from curation.imports import DETECT_CHARS

from .mutations import Blob, fuzz_settings, mutated
from .seeds import READABLE, seed_list, seeds

ALL_SEEDS = [data for _, _, data in seed_list()]


def files_for(fmt: str) -> st.SearchStrategy[bytes]:
    """Mostly this format's own seeds mutated, sometimes another format's."""
    own = [data for f, _, data in seed_list() if f == fmt]
    return st.one_of(
        st.sampled_from(own).flatmap(mutated),
        st.sampled_from(ALL_SEEDS).flatmap(mutated),
    )


def read_all(fmt: str, data: bytes, *, skip: bool) -> tuple[list[Row], list[FormatError]]:
    skipped: list[FormatError] = []
    with open_text(io.BytesIO(data)) as text, saved_on_crash(data):
        rows = list(FORMATS[fmt].read(text, on_bad_row=skipped.append if skip else None))
    return rows, skipped


@contextmanager
def saved_on_crash(data: bytes):
    """Let FormatError through; any other exception fails the test, the input saved to disk."""
    try:
        yield
    except FormatError:
        raise
    except BaseException as e:
        path = data.save() if isinstance(data, Blob) else None
        raise AssertionError(f"{type(e).__name__}: {str(e)[:300]} (input: {path})") from e


def assert_located(error: FormatError, data: bytes) -> None:
    text = str(error)
    assert error.message, text
    assert text.startswith(f"line {error.line}"), text
    assert 1 <= error.line <= data.count(b"\n") + 1, (text, data.count(b"\n"))


@pytest.mark.parametrize("seed", [s for s in seed_list()], ids=lambda s: f"{s[0]}-{s[1]}")
def test_every_seed_reads_completely_in_its_format(seed):
    fmt, _, data = seed
    rows, skipped = read_all(fmt, data, skip=True)
    assert len(rows) == 4 and not skipped


@pytest.mark.parametrize("fmt", READABLE)
@fuzz_settings(100)
@given(data=st.data())
def test_a_mutated_file_reads_as_rows_or_a_located_format_error(fmt, data):
    file = data.draw(files_for(fmt), label="file")
    skip = data.draw(st.booleans(), label="skip_bad")
    try:
        rows, skipped = read_all(fmt, file, skip=skip)
    except FormatError as e:
        event("FormatError")
        assert_located(e, file)
        return
    event(f"rows, {'some' if skipped else 'none'} skipped")
    for error in skipped:
        assert_located(error, file)
    assert all(isinstance(r, Row) for r in rows)
    assert [r.index for r in rows] == sorted({r.index for r in rows})


@fuzz_settings(150)
@given(file=st.sampled_from(ALL_SEEDS).flatmap(mutated), cut=st.integers(0, 1 << 16))
def test_detection_names_a_format_or_says_why_not(file, cut):
    for head in (file, file[:cut]):
        try:
            with open_text(io.BytesIO(head)) as text, saved_on_crash(Blob(head)):
                found = detect(text.read(DETECT_CHARS))
        except FormatError as e:
            assert_located(e, head)
            continue
        assert isinstance(found, Detection)
        assert found.name in FORMATS and 0 < found.confidence <= 1, found
        assert found.reason


def test_the_seeds_cover_every_readable_format():
    assert sorted(seeds()) == READABLE
