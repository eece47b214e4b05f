"""Progress of a project: counts, per-annotator throughput, acceptance and agreement."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone

from curation import agreement, selectors
from curation.answers import LABEL_CLARIFY, LABEL_TEXT
from curation.models import Project, RecordEvent

ANNOTATIONS = ("submit", "annotate")
#: Median time per record is taken over each annotator's latest submissions only.
MEDIAN_WINDOW = 500


@dataclass
class AnnotatorStats:
    username: str
    submitted: int
    last_7_days: int
    median_seconds: float | None
    accepted: int = 0
    sent_back: int = 0

    @property
    def acceptance_rate(self) -> float | None:
        reviewed = self.accepted + self.sent_back
        return self.accepted / reviewed if reviewed else None


@dataclass
class Agreement:
    items: int = 0
    fleiss_kappa: float | None = None
    cohen_kappa: float | None = None
    percent: float | None = None
    arguments_exact: float | None = None
    argument_pairs: int = 0
    confusions: list = field(default_factory=list)


@dataclass
class Dashboard:
    counts: dict
    total: int
    annotators: list[AnnotatorStats]
    accepted: int
    sent_back: int
    agreement: Agreement

    @property
    def acceptance_rate(self) -> float | None:
        reviewed = self.accepted + self.sent_back
        return self.accepted / reviewed if reviewed else None


def annotator_stats(project: Project, *, now=None) -> list[AnnotatorStats]:
    now = now or timezone.now()
    events = RecordEvent.objects.filter(record__project=project)
    rows = (
        events.filter(action__in=ANNOTATIONS, actor__isnull=False)
        .values("actor")
        .annotate(
            n=Count("id"), recent=Count("id", filter=Q(created_at__gte=now - timedelta(days=7)))
        )
    )
    reviews = (
        events.filter(action__in=("accept", "send_back"), record__submitted_by__isnull=False)
        .values("record__submitted_by", "action")
        .annotate(n=Count("id"))
    )
    review_counts: dict[tuple[int, str], int] = {
        (r["record__submitted_by"], r["action"]): r["n"] for r in reviews
    }
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[r["actor"] for r in rows])
        .values_list("pk", "username")
    )
    stats = []
    for row in rows:
        seconds = [
            s
            for s in events.filter(action__in=ANNOTATIONS, actor_id=row["actor"])
            .order_by("-id")
            .values_list("data__seconds", flat=True)[:MEDIAN_WINDOW]
            if isinstance(s, int | float)
        ]
        stats.append(
            AnnotatorStats(
                username=names.get(row["actor"], "?"),
                submitted=row["n"],
                last_7_days=row["recent"],
                median_seconds=statistics.median(seconds) if seconds else None,
                accepted=review_counts.get((row["actor"], "accept"), 0),
                sent_back=review_counts.get((row["actor"], "send_back"), 0),
            )
        )
    return sorted(stats, key=lambda s: (-s.submitted, s.username))


def agreement_stats(project: Project) -> Agreement:
    """Agreement over records answered by two or more annotators (their latest answers)."""
    events = RecordEvent.objects.filter(
        record__project=project, action__in=ANNOTATIONS, actor__isnull=False
    )
    shared = (
        events.values("record").annotate(n=Count("actor", distinct=True)).filter(n__gte=2)
    ).values_list("record", flat=True)
    latest: dict[int, dict[int, tuple[str, object]]] = {}
    for record_id, actor, label, arguments in (
        events.filter(record__in=list(shared[:20_000]))
        .order_by("id")
        .values_list("record_id", "actor_id", "data__label", "data__arguments")
    ):
        latest.setdefault(record_id, {})[actor] = (label or LABEL_TEXT, arguments)
    items = [list(answers.values()) for answers in latest.values()]
    labels = [[label for label, _args in answers] for answers in items]
    firsts = [answers[:2] for answers in items]
    pairs = [
        (a[1], b[1]) for a, b in firsts if a[0] == b[0] and a[0] not in (LABEL_TEXT, LABEL_CLARIFY)
    ]
    confusions: dict[tuple[str, str], int] = {}
    for a, b in firsts:
        if a[0] != b[0]:
            key = tuple(sorted((a[0], b[0])))
            confusions[key] = confusions.get(key, 0) + 1
    return Agreement(
        items=len(items),
        fleiss_kappa=agreement.fleiss_kappa(labels),
        cohen_kappa=agreement.cohen_kappa([a[0] for a, _ in firsts], [b[0] for _, b in firsts]),
        percent=agreement.percent_agreement(labels),
        arguments_exact=agreement.exact_match_rate(pairs),
        argument_pairs=len(pairs),
        confusions=sorted(confusions.items(), key=lambda kv: -kv[1])[:10],
    )


def dashboard(project: Project) -> Dashboard:
    counts = selectors.status_counts(project)
    reviews = dict(
        RecordEvent.objects.filter(record__project=project, action__in=("accept", "send_back"))
        .values("action")
        .annotate(n=Count("id"))
        .values_list("action", "n")
    )
    return Dashboard(
        counts=counts,
        total=sum(counts.values()),
        annotators=annotator_stats(project),
        accepted=reviews.get("accept", 0),
        sent_back=reviews.get("send_back", 0),
        agreement=agreement_stats(project),
    )
