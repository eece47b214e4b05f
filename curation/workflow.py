"""The annotation workflow: hand out work, autosave, save, submit, review, bulk changes.

Every write that another person could race with is a compare-and-set UPDATE (claims match
on the record being free, edits on the version the editor was drawn from), so it is safe on
SQLite and on PostgreSQL, where the queue additionally skips rows other claims have locked.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotAllowed, StaleRecord
from curation import answers, record_content
from curation.models import (
    ROLE_RANK,
    Draft,
    GuidelineVersion,
    Project,
    Record,
    RecordEvent,
    Role,
    Tag,
    WorkInProgress,
    content_hash,
)

S = Record.Status
EDITABLE = (S.NEW, S.IN_PROGRESS, S.RETURNED)
#: Editor modes: the claimant edits the record; an overlap annotator answers blind beside it.
EDIT, OVERLAP, READ_ONLY = "edit", "overlap", "read_only"


class EditConflict(StaleRecord):
    """Someone saved a newer version; `mine` is the refused content, `theirs` the record."""

    def __init__(self, *, mine: dict, theirs: Record) -> None:
        last = theirs.history_events.order_by("-created_at", "-id").select_related("actor").first()
        theirs_by = last.actor.get_username() if last and last.actor else ""
        who = theirs_by or _("Someone")
        super().__init__(
            _("%(who)s saved version %(v)s of this record after you opened it.")
            % {"who": who, "v": theirs.version},
            hint=_("Compare both versions below, then keep yours on top of theirs or take theirs."),
        )
        self.mine = mine
        self.theirs = theirs
        self.theirs_by = theirs_by


# --- permissions -------------------------------------------------------------------------


def role_in(project: Project, user) -> str | None:
    """The user's role, looked up once per project instance (views and services ask often)."""
    cache = project.__dict__.setdefault("_role_cache", {})
    if user.pk not in cache:
        cache[user.pk] = project.role_of(user)
    return cache[user.pk]


def _has_role(project: Project, user, role: str) -> bool:
    held = role_in(project, user)
    return held is not None and ROLE_RANK[held] >= ROLE_RANK[role]


def _require(project: Project, user, role: str, message: str) -> str:
    held = role_in(project, user)
    if held is None or ROLE_RANK[held] < ROLE_RANK[role]:
        raise NotAllowed(message, hint=_("Ask an engineer of this project for the role."))
    return held


def _is_only_annotator(project: Project, user) -> bool:
    return role_in(project, user) == Role.ANNOTATOR


def editor_mode(record: Record, user) -> str:
    """How `user` may work on `record` right now (after open_record)."""
    if record.assignee_id == user.pk and record.status in EDITABLE:
        return EDIT
    if _overlap_claim(record, user) is not None:
        return OVERLAP
    if _has_role(record.project, user, Role.REVIEWER):
        return EDIT
    return READ_ONLY


def _overlap_claim(record: Record, user) -> WorkInProgress | None:
    if record.project.annotation_overlap <= 1 or record.status not in (S.SUBMITTED, S.ACCEPTED):
        return None
    wip = WorkInProgress.objects.filter(record=record, user=user).first()
    return wip if wip and wip.data.get("overlap") else None


# --- the queue ---------------------------------------------------------------------------


def release_stale_claims(project: Project, *, now=None, timeout: timedelta | None = None) -> int:
    """Claims untouched for `timeout` (the project's claim timeout; autosave keeps a claim
    alive) go back: sent-back work to its annotator, the rest to the pool. Their autosaved
    work stays in WorkInProgress."""
    now = now or timezone.now()
    timeout = timeout or project.claim_timeout
    returned = ~Q(review_comment="")
    return Record.objects.filter(
        project=project, status=S.IN_PROGRESS, claimed_at__lt=now - timeout
    ).update(
        status=Case(When(returned, then=Value(S.RETURNED)), default=Value(S.NEW)),
        assignee=Case(When(returned, then=F("assignee")), default=None),
        claimed_at=None,
    )


def next_record(project: Project, user, *, now=None) -> Record | None:
    """The record `user` should work on next, claimed for them; None when the queue is empty.

    Order: their open claim, work sent back to them, work assigned to them, records that
    need another blind annotation (overlap), then the pool (skipped ones last), where records
    that already have a model draft come first: while a drafting job works through the pool,
    annotators correct its drafts instead of racing it to the records it has not reached.
    """
    _require(project, user, Role.ANNOTATOR, _("Only annotators of this project get records."))
    now = now or timezone.now()
    release_stale_claims(project, now=now)
    mine = (
        Record.objects.filter(project=project, assignee=user, status__in=EDITABLE)
        .annotate(
            rank=Case(
                When(status=S.IN_PROGRESS, then=Value(0)),
                When(status=S.RETURNED, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", "id")
        .first()
    )
    if mine is not None:
        return _claim_own(mine, user, now=now)
    if project.annotation_overlap > 1 and (record := _claim_overlap(project, user, now=now)):
        return record
    skipped = RecordEvent.objects.filter(record=OuterRef("pk"), actor=user, action="skip")
    pool = Record.objects.filter(project=project, status=S.NEW, assignee__isnull=True)
    # Drafted records through the (small) set of drafts, not a probe per pool row.
    drafted = pool.filter(pk__in=Draft.objects.filter(record__project=project).values("record"))
    for candidates in (
        drafted.exclude(Exists(skipped)),
        pool.exclude(Exists(skipped)),
        pool,
    ):
        if record := _claim_from(candidates, user, now=now):
            return record
    return None


def _claim_from(candidates, user, *, now) -> Record | None:
    claim = {"status": S.IN_PROGRESS, "assignee": user, "claimed_at": now}
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            pk = (
                candidates.select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)
                .first()
            )
            if pk is None:
                return None
            Record.objects.filter(pk=pk).update(**claim)
            return _claimed(pk, user)
    # SQLite: no row locks, so try a few candidates with a compare-and-set each; another
    # annotator winning one only moves us to the next.
    for _attempt in range(3):
        pks = list(candidates.values_list("pk", flat=True)[:5])
        if not pks:
            return None
        for pk in pks:
            if Record.objects.filter(pk=pk, status=S.NEW, assignee__isnull=True).update(**claim):
                return _claimed(pk, user)
    return None


def _claimed(pk: int, user) -> Record:
    record = Record.objects.select_related("project").get(pk=pk)
    RecordEvent.objects.create(record=record, actor=user, action="claim", version=record.version)
    return record


def _claim_own(record: Record, user, *, now) -> Record:
    changed = Record.objects.filter(
        pk=record.pk, assignee=user, status=record.status, version=record.version
    ).update(status=S.IN_PROGRESS, claimed_at=now)
    if changed and record.status != S.IN_PROGRESS:
        RecordEvent.objects.create(
            record=record, actor=user, action="claim", version=record.version
        )
    record.status, record.claimed_at = S.IN_PROGRESS, now
    return record


def _claim_overlap(project: Project, user, *, now) -> Record | None:
    """A submitted record that still needs blind annotations, held by a WorkInProgress row
    marked as an overlap claim. Two annotators racing for the last slot may both get it:
    one extra annotation only adds agreement data, so no lock is taken for it."""
    n = project.annotation_overlap
    answered = RecordEvent.objects.filter(record=OuterRef("pk"), action__in=("submit", "annotate"))
    candidates = list(
        Record.objects.filter(project=project, status__in=(S.SUBMITTED, S.ACCEPTED))
        .exclude(submitted_by=user)
        .exclude(Exists(answered.filter(actor=user)))
        .exclude(Exists(WorkInProgress.objects.filter(record=OuterRef("pk"), user=user)))
        .select_related("project")
        .order_by("id")[:50]
    )
    ids = [r.pk for r in candidates]
    done: dict[int, set] = {pk: set() for pk in ids}
    for pk, actor in RecordEvent.objects.filter(
        record_id__in=ids, action__in=("submit", "annotate")
    ).values_list("record_id", "actor_id"):
        done[pk].add(actor)
    for pk, _user in WorkInProgress.objects.filter(
        record_id__in=ids, data__overlap=True, updated_at__gte=now - project.claim_timeout
    ).values_list("record_id", "user_id"):
        done[pk].add(("claim", _user))
    for record in candidates:
        if len(done[record.pk]) < n:
            WorkInProgress.objects.update_or_create(
                record=record,
                user=user,
                defaults={
                    "base_version": record.version,
                    "data": {"overlap": True, "claimed_at": now.isoformat(), "state": None},
                },
            )
            RecordEvent.objects.create(
                record=record, actor=user, action="claim_overlap", version=record.version
            )
            return record
    return None


def open_record(record: Record, user, *, now=None) -> str:
    """Claim `record` for an annotator who opens it by link when it is theirs or free; returns
    the editor mode."""
    project = record.project
    _require(project, user, Role.ANNOTATOR, _("Only members of this project open records."))
    now = now or timezone.now()
    if record.assignee_id == user.pk and record.status in EDITABLE:
        _claim_own(record, user, now=now)
    elif (
        record.status == S.NEW
        and record.assignee_id is None
        and _is_only_annotator(project, user)
        and Record.objects.filter(pk=record.pk, status=S.NEW, assignee__isnull=True).update(
            status=S.IN_PROGRESS, assignee=user, claimed_at=now
        )
    ):
        record.status, record.assignee, record.claimed_at = S.IN_PROGRESS, user, now
        RecordEvent.objects.create(
            record=record, actor=user, action="claim", version=record.version
        )
    return editor_mode(record, user)


def skip_record(record: Record, user) -> None:
    """Give the record back and do not hand it to `user` again while other work remains."""
    if (wip := _overlap_claim(record, user)) is not None:
        wip.delete()
    elif record.assignee_id != user.pk or record.status not in (S.NEW, S.IN_PROGRESS):
        raise NotAllowed(
            _("Only the annotator holding a record can skip it."),
            hint=_("Sent-back records stay with you: fix them or ask the reviewer."),
        )
    else:
        Record.objects.filter(pk=record.pk, assignee=user).update(
            status=S.NEW, assignee=None, claimed_at=None
        )
    RecordEvent.objects.create(record=record, actor=user, action="skip", version=record.version)


def release_record(record: Record, user) -> None:
    """Hand a claimed record back to the pool (autosaved work is kept)."""
    if record.assignee_id != user.pk and not _has_role(record.project, user, Role.ENGINEER):
        raise NotAllowed(_("Only the annotator holding a record, or an engineer, can release it."))
    Record.objects.filter(pk=record.pk, status=S.IN_PROGRESS).update(
        status=Case(When(~Q(review_comment=""), then=Value(S.RETURNED)), default=Value(S.NEW)),
        assignee=Case(When(~Q(review_comment=""), then=F("assignee")), default=None),
        claimed_at=None,
    )
    RecordEvent.objects.create(record=record, actor=user, action="release", version=record.version)


# --- editing -----------------------------------------------------------------------------


def autosave(record: Record, user, *, base_version: int, state: dict) -> WorkInProgress:
    """Keep the editor's unsaved state; also keeps the user's claim alive."""
    mode = editor_mode(record, user)
    if mode == READ_ONLY:
        raise NotAllowed(_("This record is not yours to edit."), hint=_("Take the next record."))
    now = timezone.now()
    wip, created = WorkInProgress.objects.get_or_create(
        record=record, user=user, defaults={"base_version": base_version, "data": {}}
    )
    wip.base_version = base_version
    wip.data = {**wip.data, "state": state, "kind": answers.editor_kind(record)}
    wip.updated_at = now
    # An UPDATE, not save(): a submit that landed since get_or_create deleted this work, and
    # an autosave that lost that race has nothing left to keep (save() raised: HTTP 500).
    WorkInProgress.objects.filter(pk=wip.pk).update(
        base_version=wip.base_version, data=wip.data, updated_at=now
    )
    if mode == EDIT and record.assignee_id == user.pk:
        Record.objects.filter(pk=record.pk, assignee=user, status=S.IN_PROGRESS).update(
            claimed_at=now
        )
    return wip


def work_in_progress(record: Record, user) -> WorkInProgress | None:
    return WorkInProgress.objects.filter(record=record, user=user).first()


def _check_editable(record: Record, user, *, action: str) -> None:
    _require(record.project, user, Role.ANNOTATOR, _("Only members of this project edit records."))
    if editor_mode(record, user) != EDIT:
        raise NotAllowed(
            _("You cannot %(action)s this record: it is not assigned to you.") % {"action": action},
            hint=_("Take the next record from your queue."),
        )


def _apply(record: Record, content: dict) -> dict:
    """Content plus the fields derived from it (hash, tool name, problems)."""
    for name, value in content.items():
        setattr(record, name, value)
    problems = [p.__dict__ for p in answers.answer_problems(record, {})]
    return {
        **content,
        "content_hash": content_hash(record.content()),
        "tool_name": record_content.tool_name(record),
        "problems": problems,
        "has_problems": bool(problems),
    }


def _compare_and_set(record: Record, user, *, version: int, content: dict, **fields) -> Record:
    before = record_content.answer(record)
    changes = _apply(record, content) if content else {}
    changed = Record.objects.filter(pk=record.pk, version=version).update(
        **changes, **fields, version=F("version") + 1, updated_at=timezone.now()
    )
    if not changed:
        theirs = Record.objects.select_related("project").get(pk=record.pk)
        raise EditConflict(mine=content, theirs=theirs)
    record.refresh_from_db()
    record._before = before
    return record


@transaction.atomic
def save_record(record: Record, user, *, version: int, state: dict) -> Record:
    """Write the editor's state as the record's content, unless someone saved since
    `version`; the refused state stays in WorkInProgress, so nothing is lost."""
    _check_editable(record, user, action=_("save"))
    content = answers.content_from_state(record, state)
    record = _compare_and_set(record, user, version=version, content=content)
    after = record_content.answer(record)
    RecordEvent.objects.create(
        record=record,
        actor=user,
        action="save",
        version=record.version,
        data={"before": record._before, "after": after},
    )
    WorkInProgress.objects.filter(record=record, user=user).delete()
    return record


def keep_conflicting_work(record: Record, user, *, version: int, state: dict) -> None:
    """Store a refused save as work in progress (outside the failed transaction)."""
    WorkInProgress.objects.update_or_create(
        record=record,
        user=user,
        defaults={
            "base_version": version,
            "data": {"state": state, "kind": answers.editor_kind(record)},
        },
    )


def guideline_in_force(project: Project, *, actor=None) -> GuidelineVersion | None:
    """The newest guideline version; the project's text becomes a new version when it was
    edited elsewhere (the admin), so every submission names the text it was made under."""
    latest = project.guideline_versions.first()
    if project.guidelines and (latest is None or latest.text != project.guidelines):
        latest = GuidelineVersion.objects.create(
            project=project,
            number=(latest.number + 1) if latest else 1,
            text=project.guidelines,
            created_by=actor,
        )
    return latest


@transaction.atomic
def save_guidelines(project: Project, user, *, text: str) -> GuidelineVersion:
    _require(project, user, Role.ENGINEER, _("Only engineers edit the guidelines."))
    Project.objects.filter(pk=project.pk).update(guidelines=text)
    project.guidelines = text
    return guideline_in_force(project, actor=user)


_CURRENT = object()


def baseline_answer(record: Record, *, before=_CURRENT):
    """What the annotator started from: the newest model draft, else the answer as it was
    before the first human change (`before` when this is the first)."""
    draft = record.drafts.first()
    if draft is not None:
        return record_content.draft_answer(record, draft)
    first = record.history_events.filter(data__has_key="before").first()
    if first:
        return first.data["before"]
    return record_content.answer(record) if before is _CURRENT else before


def _submission_data(record: Record, *, before, mode: str, seconds) -> dict:
    after = record_content.answer(record)
    label, arguments = answers.label_of(after, mode=mode)
    return {
        "before": before,
        "after": after,
        "label": label,
        "arguments": arguments,
        "seconds": seconds,
        "guideline_version": record.guideline_version,
        "corrected": after != baseline_answer(record, before=before),
    }


def _blocking(record: Record, content: dict) -> None:
    problems = answers.answer_problems(record, content)
    if problems:
        raise InvalidInput(
            "; ".join(p.message for p in problems),
            hint=problems[0].hint or _("Fix the arguments so they match the tool's schema."),
            where=_("arguments"),
        )


@transaction.atomic
def submit_record(record: Record, user, *, version: int, state: dict | None = None) -> Record:
    """Save (when `state` is given) and submit for review; schema problems block it."""
    if (wip := _overlap_claim(record, user)) is not None:
        return _submit_overlap(record, user, wip=wip, state=state or {})
    _check_editable(record, user, action=_("submit"))
    content = answers.content_from_state(record, state) if state is not None else {}
    _blocking(record, content)
    now = timezone.now()
    guideline = guideline_in_force(record.project)
    seconds = (now - record.claimed_at).total_seconds() if record.claimed_at else None
    record = _compare_and_set(
        record,
        user,
        version=version,
        content=content,
        status=S.SUBMITTED,
        submitted_by=user,
        submitted_at=now,
        claimed_at=None,
        guideline_version=guideline.number if guideline else None,
    )
    RecordEvent.objects.create(
        record=record,
        actor=user,
        action="submit",
        version=record.version,
        data=_submission_data(
            record, before=record._before, mode=(state or {}).get("mode", ""), seconds=seconds
        ),
    )
    WorkInProgress.objects.filter(record=record, user=user).delete()
    return record


def _submit_overlap(record: Record, user, *, wip: WorkInProgress, state: dict) -> Record:
    """A blind second annotation: kept in the history for agreement, the record unchanged."""
    content = answers.content_from_state(record, state)
    _blocking(record, content)
    claimed = wip.data.get("claimed_at")
    seconds = (
        (timezone.now() - datetime.fromisoformat(claimed)).total_seconds() if claimed else None
    )
    answer = record_content.answer(record, content)
    label, arguments = answers.label_of(answer, mode=state.get("mode", ""))
    guideline = guideline_in_force(record.project)
    RecordEvent.objects.create(
        record=record,
        actor=user,
        action="annotate",
        version=record.version,
        data={
            "after": answer,
            "label": label,
            "arguments": arguments,
            "seconds": seconds,
            "guideline_version": guideline.number if guideline else None,
        },
    )
    wip.delete()
    return record


# --- review ------------------------------------------------------------------------------


@transaction.atomic
def accept_record(record: Record, user, *, version: int) -> Record:
    _require(record.project, user, Role.REVIEWER, _("Only reviewers accept records."))
    if record.status != S.SUBMITTED:
        raise NotAllowed(
            _("Only submitted records can be accepted; this one is %(s)s.")
            % {"s": record.get_status_display()}
        )
    record = _compare_and_set(
        record,
        user,
        version=version,
        content={},
        status=S.ACCEPTED,
        reviewed_by=user,
        reviewed_at=timezone.now(),
        review_comment="",
    )
    RecordEvent.objects.create(record=record, actor=user, action="accept", version=record.version)
    return record


@transaction.atomic
def send_back(record: Record, user, *, version: int, comment: str) -> Record:
    """Return a record to its annotator with a comment they see in their queue."""
    _require(record.project, user, Role.REVIEWER, _("Only reviewers send records back."))
    comment = comment.strip()
    if not comment:
        raise InvalidInput(
            _("Say what to fix."), hint=_("Write a comment for the annotator."), where="comment"
        )
    if record.status not in (S.SUBMITTED, S.ACCEPTED):
        raise NotAllowed(
            _("Only submitted or accepted records can be sent back; this one is %(s)s.")
            % {"s": record.get_status_display()}
        )
    record = _compare_and_set(
        record,
        user,
        version=version,
        content={},
        status=S.RETURNED,
        assignee=record.submitted_by,
        claimed_at=None,
        review_comment=comment,
        reviewed_by=user,
        reviewed_at=timezone.now(),
    )
    RecordEvent.objects.create(
        record=record,
        actor=user,
        action="send_back",
        version=record.version,
        data={"comment": comment},
    )
    return record


# --- bulk --------------------------------------------------------------------------------

MAX_BULK = 10_000


def _bulk_ids(project: Project, ids) -> list[int]:
    ids = sorted({int(i) for i in ids})
    if not ids:
        raise InvalidInput(_("No records selected."), hint=_("Tick at least one record."))
    if len(ids) > MAX_BULK:
        raise InvalidInput(
            _("At most %(n)s records at once.") % {"n": MAX_BULK}, hint=_("Narrow the filter.")
        )
    return list(project.records.filter(pk__in=ids).values_list("pk", flat=True))


def _log_bulk(ids: list[int], user, action: str, data: dict) -> None:
    versions = dict(Record.objects.filter(pk__in=ids).values_list("pk", "version"))
    RecordEvent.objects.bulk_create(
        [
            RecordEvent(record_id=pk, actor=user, action=action, version=versions[pk], data=data)
            for pk in ids
            if pk in versions
        ]
    )


@transaction.atomic
def assign_records(project: Project, user, ids, *, assignees: list | None = None) -> dict:
    """Assign records to one person, or round robin over several (default: every annotator
    of the project). Claims in progress are taken back; submitted work is left alone."""
    _require(project, user, Role.ENGINEER, _("Only engineers assign records."))
    if not assignees:
        assignees = [
            m.user
            for m in project.memberships.filter(role=Role.ANNOTATOR)
            .select_related("user")
            .order_by("user__username")
        ]
    for person in assignees:
        if not project.has_role(person, Role.ANNOTATOR):
            raise InvalidInput(
                _("%(who)s is not a member of this project.") % {"who": person},
                hint=_("Add them as annotator first."),
                where="assignee",
            )
    if not assignees:
        raise InvalidInput(_("This project has no annotators."), hint=_("Add members first."))
    ids = list(
        project.records.filter(pk__in=_bulk_ids(project, ids), status__in=EDITABLE).values_list(
            "pk", flat=True
        )
    )
    shares: dict[int, list[int]] = {p.pk: [] for p in assignees}
    for pk, person in zip(ids, itertools.cycle(assignees), strict=False):
        shares[person.pk].append(pk)
    for person in assignees:
        Record.objects.filter(pk__in=shares[person.pk]).update(
            assignee=person,
            status=Case(When(status=S.IN_PROGRESS, then=Value(S.NEW)), default=F("status")),
            claimed_at=None,
            version=F("version") + 1,
        )
        _log_bulk(shares[person.pk], user, "assign", {"to": person.get_username()})
    return {p.get_username(): len(shares[p.pk]) for p in assignees}


@transaction.atomic
def tag_records(project: Project, user, ids, *, tag: str) -> int:
    _require(project, user, Role.REVIEWER, _("Only reviewers and engineers tag records."))
    name = tag.strip()
    if not name:
        raise InvalidInput(_("The tag is empty."), hint=_("Type a tag name."), where="tag")
    ids = _bulk_ids(project, ids)
    tag_obj, _created = Tag.objects.get_or_create(project=project, name=name[:100])
    Through = Record.tags.through
    Through.objects.bulk_create(
        [Through(record_id=pk, tag_id=tag_obj.pk) for pk in ids], ignore_conflicts=True
    )
    _log_bulk(ids, user, "tag", {"tag": tag_obj.name})
    return len(ids)


@transaction.atomic
def move_split(project: Project, user, ids, *, split: str) -> dict:
    """Move records to a split; records already exported keep theirs (no test-set leaks)."""
    _require(project, user, Role.ENGINEER, _("Only engineers move records between splits."))
    if split not in Record.Split.values:
        raise InvalidInput(
            _("%(s)r is not a split.") % {"s": split},
            hint=_("Use train, test or nothing."),
            where="split",
        )
    ids = _bulk_ids(project, ids)
    movable = Record.objects.filter(pk__in=ids, split_locked=False)
    moved_ids = list(movable.values_list("pk", flat=True))
    movable.update(split=split, version=F("version") + 1)
    _log_bulk(moved_ids, user, "split", {"split": split})
    return {"moved": len(moved_ids), "locked": len(ids) - len(moved_ids)}


@transaction.atomic
def send_to_review(project: Project, user, ids) -> int:
    """Put records straight into the review queue (e.g. imported answers already correct)."""
    _require(
        project, user, Role.REVIEWER, _("Only reviewers and engineers send records to review.")
    )
    ids = list(
        Record.objects.filter(pk__in=_bulk_ids(project, ids), status__in=EDITABLE).values_list(
            "pk", flat=True
        )
    )
    Record.objects.filter(pk__in=ids).update(
        status=S.SUBMITTED,
        submitted_by=user,
        submitted_at=timezone.now(),
        claimed_at=None,
        version=F("version") + 1,
    )
    _log_bulk(ids, user, "send_to_review", {})
    return len(ids)
