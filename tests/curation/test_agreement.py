import pytest

from curation.agreement import cohen_kappa, exact_match_rate, fleiss_kappa, percent_agreement


def test_cohen_kappa_is_one_for_identical_raters_and_zero_at_chance():
    labels = ["a", "b", "a", "c"]
    assert cohen_kappa(labels, labels) == pytest.approx(1.0)
    # Rater b says "x" exactly half the time regardless of item: agreement equals chance.
    assert cohen_kappa(["x", "x", "y", "y"], ["x", "y", "x", "y"]) == pytest.approx(0.0)


def test_cohen_kappa_matches_a_textbook_example():
    # 50 items: both yes 20, a yes b no 5, a no b yes 10, both no 15 -> kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_is_undefined_without_variation_or_items():
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None
    with pytest.raises(ValueError, match="same"):
        cohen_kappa(["a"], ["a", "b"])


def test_fleiss_kappa_matches_the_wikipedia_example():
    # Fleiss (1971) worked example on Wikipedia: 10 items, 14 raters, 5 categories -> 0.210
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    items = [[cat for cat, n in enumerate(row) for _ in range(n)] for row in table]
    assert fleiss_kappa(items) == pytest.approx(0.210, abs=0.001)


def test_fleiss_kappa_for_two_raters_is_close_to_cohen():
    a, b = ["t1", "t1", "t2", "t3", "t2", "t1"], ["t1", "t2", "t2", "t3", "t2", "t1"]
    assert fleiss_kappa(list(zip(a, b, strict=True))) == pytest.approx(cohen_kappa(a, b), abs=0.05)


def test_fleiss_ignores_items_with_one_rater():
    assert fleiss_kappa([["a"], ["b"]]) is None


def test_exact_match_ignores_key_order():
    pairs = [({"a": 1, "b": "库存"}, {"b": "库存", "a": 1}), ({"a": 1}, {"a": 2})]
    assert exact_match_rate(pairs) == 0.5
    assert exact_match_rate([]) is None


def test_percent_agreement_counts_unanimous_items():
    assert percent_agreement([["a", "a"], ["a", "b", "a"], ["c", "c", "c"]]) == pytest.approx(2 / 3)
