"""Inter-annotator agreement on tool choice (Cohen's and Fleiss' kappa) and on arguments
(exact match). Pure functions over plain labels; nothing here touches the database."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Sequence


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items; None when it is undefined (no
    items, or both raters always gave one and the same label, so chance agreement is 1)."""
    if len(a) != len(b):
        raise ValueError(f"the raters labelled {len(a)} and {len(b)} items; give both the same")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(items: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa over items each labelled by two or more raters.

    Items may have different numbers of raters (the per-item agreement is normalised by its
    own rater count); items with fewer than two labels are ignored. None when undefined.
    """
    items = [list(labels) for labels in items if len(labels) >= 2]
    if not items:
        return None
    totals: Counter = Counter()
    agreement = 0.0
    for labels in items:
        counts = Counter(labels)
        m = len(labels)
        totals.update(counts)
        agreement += (sum(c * c for c in counts.values()) - m) / (m * (m - 1))
    observed = agreement / len(items)
    all_labels = sum(totals.values())
    expected = sum((c / all_labels) ** 2 for c in totals.values())
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def canonical(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def exact_match_rate(pairs: Sequence[tuple[object, object]]) -> float | None:
    """Share of pairs whose values are equal as JSON (key order and spacing ignored)."""
    if not pairs:
        return None
    return sum(canonical(x) == canonical(y) for x, y in pairs) / len(pairs)


def percent_agreement(items: Sequence[Sequence[Hashable]]) -> float | None:
    """Share of items on which every rater gave the same label."""
    items = [labels for labels in items if len(labels) >= 2]
    if not items:
        return None
    return sum(len(set(labels)) == 1 for labels in items) / len(items)
