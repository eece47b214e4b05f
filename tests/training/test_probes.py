from collections import Counter

import pytest

from training.metrics import is_cjk
from training.probes import ProbeError, load_probe


def test_general_probe_is_half_chinese_half_english():
    rows = load_probe()
    assert 30 <= len(rows) <= 50
    assert Counter(r["lang"] for r in rows) == {"zh": len(rows) // 2, "en": len(rows) // 2}
    for row in rows:
        assert is_cjk(row["question"]) == (row["lang"] == "zh"), row["id"]


def test_every_probe_has_a_unique_id_and_a_short_reference():
    rows = load_probe()
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(0 < len(r["reference"]) <= 40 for r in rows)


def test_probe_covers_the_stated_categories_in_both_languages():
    pairs = {(r["lang"], r["category"]) for r in load_probe()}
    categories = {"arithmetic", "geography", "knowledge", "instruction"}
    assert pairs == {(lang, c) for lang in ("zh", "en") for c in categories}


def test_unknown_probe_set_names_the_known_ones():
    with pytest.raises(ProbeError, match=r"no probe set \"nope\".*general"):
        load_probe(name="nope")
