"""The Job row: one background job run by a db_worker (drafting, training, comparing, importing).

Below curation and training: both queue work through it, and every door reads a job's state
through `jobs.services.job_state`.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Job(models.Model):
    """A background job run in a child process by a db_worker: drafting, training, comparing,
    importing a large file.

    The worker's task polls the child and copies its progress here; the web app only reads
    this row, so a page never waits on the work itself.
    """

    class Kind(models.TextChoices):
        DRAFT = "draft", _("Drafting")
        TRAIN = "train", _("Training")
        COMPARE = "compare", _("Comparison")
        IMPORT = "import", _("Import")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    project = models.ForeignKey(
        "curation.Project", on_delete=models.CASCADE, related_name="jobs", null=True, blank=True
    )
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    queue = models.CharField(_("queue"), max_length=40, default="default")
    params = models.JSONField(default=dict, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True, help_text=_("Latest progress figures."))
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    workdir = models.CharField(max_length=500, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text=_("host:pid of the worker."))
    task_id = models.CharField(max_length=64, blank=True)
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The table and index keep the names they had when the model lived in training/.
        db_table = "training_job"
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="training_jo_status_0e0373_idx")
        ]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @classmethod
    def from_db(cls, db, field_names, values):
        # Every Job read from the database passes through the one read function, so no door
        # (page, API, admin, --wait) can show an orphan as running.
        from jobs.services import job_state

        return job_state(super().from_db(db, field_names, values))

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0
