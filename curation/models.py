"""Projects, people and records: fields, choices, constraints and one-row methods only.

Writes that touch several rows or check permissions live in the service modules
(workflow.py, imports.py, exports.py); reads that check who is asking in selectors.py.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from curation.fields import OrderedJSONField
from curation.rowprep import CONTENT_FIELDS, content_hash  # noqa: F401 - re-exported

DEFAULT_PROMPT_TEMPLATE = (
    "{system}\n### instruction\n{instruction}\n### input\n{input}\n### response\n{response}"
)


class Role(models.TextChoices):
    # Ranked: each role can do what the ones before it can.
    ANNOTATOR = "annotator", _("Annotator")
    REVIEWER = "reviewer", _("Reviewer")
    ENGINEER = "engineer", _("Engineer")


ROLE_RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.ENGINEER: 3}


class Project(models.Model):
    class TaskKind(models.TextChoices):
        TOOL_CALLING = "tool_calling", _("Tool calling")
        INSTRUCTION = "instruction", _("Instruction pairs")
        CHAT = "chat", _("Conversations")
        PREFERENCE = "preference", _("Preference pairs")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    task_kind = models.CharField(
        _("task kind"), max_length=20, choices=TaskKind.choices, default=TaskKind.TOOL_CALLING
    )
    system_prompt = models.TextField(_("system prompt"), blank=True)
    prompt_template = models.TextField(
        _("prompt template"),
        default=DEFAULT_PROMPT_TEMPLATE,
        help_text=_("Text with {system}, {instruction}, {input} and {response} placeholders."),
    )
    tools = OrderedJSONField(
        _("tool schemas"),
        default=list,
        blank=True,
        help_text=_('JSON Schema per tool in the OpenAI "tools" shape.'),
    )
    guidelines = models.TextField(_("guidelines"), blank=True, help_text=_("Markdown."))
    annotation_overlap = models.PositiveSmallIntegerField(
        _("annotators per record"),
        default=1,
        help_text=_(
            "Above 1, further annotators answer each submitted record blind, for agreement."
        ),
    )
    language = models.CharField(
        _("language"),
        max_length=16,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("The language of the data (the prompts and answers), not of the app."),
    )
    claim_timeout_minutes = models.PositiveIntegerField(
        _("claim timeout (minutes)"),
        null=True,
        blank=True,
        help_text=_(
            "An untouched claim goes back to the queue after this long; empty: the site default."
        ),
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects", blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self) -> str:
        return self.name

    def role_of(self, user) -> str | None:
        """The user's role here; superusers act as engineers everywhere."""
        if not user.is_authenticated or not user.is_active:
            return None
        if user.is_superuser:
            return Role.ENGINEER
        membership = self.memberships.filter(user=user).only("role").first()
        return membership.role if membership else None

    def has_role(self, user, role: str) -> bool:
        held = self.role_of(user)
        return held is not None and ROLE_RANK[held] >= ROLE_RANK[role]

    @property
    def claim_timeout(self) -> timedelta:
        minutes = self.claim_timeout_minutes or settings.TUNEDESK_CLAIM_TIMEOUT_MINUTES
        return timedelta(minutes=minutes)

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", t).get("name", "") for t in self.tools or []]


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_role_per_project")
        ]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.project}"


class Tag(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_tag_per_project")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Record(models.Model):
    class Kind(models.TextChoices):
        INSTRUCTION = "instruction", _("Instruction pair")
        CONVERSATION = "conversation", _("Conversation")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        IN_PROGRESS = "in_progress", _("In progress")
        SUBMITTED = "submitted", _("Submitted")
        ACCEPTED = "accepted", _("Accepted")
        RETURNED = "returned", _("Sent back")

    class Split(models.TextChoices):
        NONE = "", _("Not split")
        TRAIN = "train", _("Train")
        TEST = "test", _("Test")

    # No index of its own: the composite indexes below all start with project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="records", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)

    # Content. Mirrors curation.formats.base.Row one to one; None means "key absent", which
    # the formats need to write a file back exactly as it came.
    system = models.TextField(null=True, blank=True)  # noqa: DJ001
    instruction = models.TextField(null=True, blank=True)  # noqa: DJ001
    input = models.TextField(null=True, blank=True)  # noqa: DJ001
    output = models.TextField(null=True, blank=True)  # noqa: DJ001
    history = OrderedJSONField(null=True, blank=True)
    messages = OrderedJSONField(null=True, blank=True)
    tools = OrderedJSONField(null=True, blank=True)
    chosen = OrderedJSONField(null=True, blank=True)
    rejected = OrderedJSONField(null=True, blank=True)
    extra = OrderedJSONField(default=dict, blank=True)
    meta = OrderedJSONField(default=dict, blank=True)

    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_records",
        db_index=False,  # the partial indexes below
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    split = models.CharField(
        _("split"), max_length=8, choices=Split.choices, default=Split.NONE, blank=True
    )
    # Set on first export: from then on the record keeps its split, so no test row ever
    # leaks into a later training set.
    split_locked = models.BooleanField(default=False)
    tags = models.ManyToManyField(Tag, blank=True, related_name="records")
    source = models.CharField(_("source"), max_length=255, blank=True)
    source_index = models.IntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, editable=False)
    tool_name = models.CharField(
        _("tool"), max_length=100, blank=True, help_text=_("First tool called by the answer.")
    )
    problems = OrderedJSONField(default=list, blank=True)
    has_problems = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    guideline_version = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Guidelines in force when it was last submitted.")
    )
    review_comment = models.TextField(
        _("review comment"), blank=True, help_text=_("Why the reviewer sent it back.")
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["project", "id"]),
            models.Index(fields=["project", "status", "id"]),
            models.Index(fields=["project", "tool_name"]),
            models.Index(fields=["project", "content_hash"]),
            # Partial: only the few records with a person or a problem on them are indexed,
            # so a bulk import of fresh records (none of either) does not pay for them. No
            # index on split: it would be rewritten for every record on its first export, and
            # a split filter reads the project's records in id order (most match) anyway.
            models.Index(
                fields=["project", "assignee", "status"],
                condition=models.Q(assignee__isnull=False),
                name="record_assignee_idx",
            ),
            models.Index(
                fields=["assignee"],
                condition=models.Q(assignee__isnull=False),
                name="record_assignee_fk_idx",
            ),
            models.Index(
                fields=["submitted_by"],
                condition=models.Q(submitted_by__isnull=False),
                name="record_submitted_by_idx",
            ),
            models.Index(
                fields=["reviewed_by"],
                condition=models.Q(reviewed_by__isnull=False),
                name="record_reviewed_by_idx",
            ),
            models.Index(
                fields=["project", "id"],
                condition=models.Q(has_problems=True),
                name="record_problems_idx",
            ),
        ]
        verbose_name = _("record")
        verbose_name_plural = _("records")

    def __str__(self) -> str:
        return f"#{self.pk} {self.preview()}"

    def preview(self, length: int = 80) -> str:
        text = self.instruction or ""
        if not text and self.messages:
            text = next(
                (m.get("content") or "" for m in self.messages if m.get("role") == "user"), ""
            )
        text = " ".join(str(text).split())
        return text[:length] + ("…" if len(text) > length else "")

    def content(self) -> dict:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}

    def compute_content_hash(self) -> str:
        return content_hash(self.content())


ACTION_LABELS = {
    "claim": _("took it"),
    "claim_overlap": _("took it (overlap)"),
    "save": _("saved"),
    "submit": _("submitted"),
    "annotate": _("annotated (overlap)"),
    "accept": _("accepted"),
    "send_back": _("sent back"),
    "skip": _("skipped"),
    "release": _("released"),
    "assign": _("assigned"),
    "tag": _("tagged"),
    "split": _("moved split"),
    "send_to_review": _("sent to review"),
    "admin_edit": _("edited in the admin"),
    "admin_create": _("created in the admin"),
}


class RecordEvent(models.Model):
    """One line of a record's history: who did what, when, at which version."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="history_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["record", "created_at"])]
        verbose_name = _("record event")
        verbose_name_plural = _("record events")

    def __str__(self) -> str:
        return f"{self.action} v{self.version} by {self.actor}"

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


class Draft(models.Model):
    """A model's answer to a record, kept beside the human correction and never overwritten."""

    class ParseStatus(models.TextChoices):
        TEXT = "text", _("Text")
        TOOL_CALLS = "tool_calls", _("Tool calls")
        UNPARSEABLE = "unparseable", _("Unparseable")

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="drafts")
    model_name = models.CharField(_("model"), max_length=200)
    prompt = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    text = models.TextField(_("raw output"), blank=True)
    parse_status = models.CharField(max_length=20, choices=ParseStatus.choices)
    tool_calls = models.JSONField(null=True, blank=True)
    problems = models.JSONField(default=list, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    job_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["record", "-created_at"])]
        verbose_name = _("draft")
        verbose_name_plural = _("drafts")

    def __str__(self) -> str:
        return f"{self.model_name} → #{self.record_id}"


class AuditEvent(models.Model):
    """Who exported, launched, deleted or changed roles: kept even when the target goes."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"


class ExportSnapshot(models.Model):
    """Immutable export: files plus a manifest. Training runs point at one, so every run can
    be reproduced from exactly the rows it saw."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="snapshots")
    format = models.CharField(_("format"), max_length=40)
    filters = models.JSONField(default=dict, blank=True)
    split_seed = models.IntegerField(default=0)
    test_ratio = models.FloatField(default=0.1)
    counts = models.JSONField(default=dict, blank=True, help_text=_("Rows per split."))
    files = models.JSONField(default=list, blank=True, help_text=_("split, path, rows, sha256."))
    manifest = models.JSONField(default=dict, blank=True)
    directory = models.CharField(max_length=500, help_text=_("Relative to the data dir."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("export snapshot")
        verbose_name_plural = _("export snapshots")

    def __str__(self) -> str:
        return f"{self.project.slug} #{self.pk} {self.format}"


class GuidelineVersion(models.Model):
    """Each saved version of a project's guidelines; submissions record the one in force."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="guideline_versions"
    )
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_guideline_version")
        ]

    def __str__(self) -> str:
        return f"{self.project.slug} v{self.number}"


class WorkInProgress(models.Model):
    """Autosaved, unsubmitted edits of one user on one record: a closed tab loses nothing."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="work_in_progress")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    base_version = models.PositiveIntegerField()
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "user"], name="one_wip_per_user_record")
        ]

    def __str__(self) -> str:
        return f"{self.user} on #{self.record_id} (from v{self.base_version})"


class LoginThrottle(models.Model):
    """Failed logins in the current window for one key (a username from an address, or an
    address): in the database, so every web process counts the same attempts
    (config/security.py)."""

    key = models.CharField(max_length=80, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"
