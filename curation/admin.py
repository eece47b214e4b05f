from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.errors import CurationError
from curation import projects
from curation.models import (
    CONTENT_FIELDS,
    AuditEvent,
    Draft,
    ExportSnapshot,
    GuidelineVersion,
    LoginThrottle,
    Membership,
    Project,
    Record,
    RecordEvent,
    Tag,
    WorkInProgress,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class ProjectAdminForm(forms.ModelForm):
    """The services' checks, as form errors: the slug and the tools are checked exactly as
    on the new-project page and in the API."""

    def _checked(self, check, value):
        try:
            return check(value)
        except CurationError as e:
            raise forms.ValidationError(f"{e.message} {e.hint}".strip()) from None

    def clean(self):
        user = getattr(self, "user", None)
        if not self.instance.pk and user is not None and not projects.can_create_projects(user):
            raise forms.ValidationError(_("You may not create projects."))
        return super().clean()

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if self.instance.pk and slug == self.instance.slug:
            return slug  # an existing slug stays valid even if the rules tightened since
        return self._checked(projects.validate_slug, slug)

    def clean_tools(self):
        return self._checked(projects.clean_tools, self.cleaned_data["tools"] or [])


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ["name", "slug", "task_kind", "created_at"]
    list_filter = ["task_kind"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            # Through the one service that creates projects (slug check, audit log).
            created = projects.create_project(
                request.user,
                slug=obj.slug,
                name=obj.name,
                tools=obj.tools,
                **{f: getattr(obj, f) for f in projects.SETTINGS_FIELDS if f != "name"},
            )
            obj.pk, obj.created_at = created.pk, created.created_at
        super().save_model(request, obj, form, change)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "project"]
    list_filter = ["project"]
    search_fields = ["name"]


class DraftInline(admin.StackedInline):
    model = Draft
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in Draft._meta.fields if f.name != "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class EventInline(admin.TabularInline):
    model = RecordEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "actor", "action", "version", "data"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "kind",
        "status",
        "tool_name",
        "split",
        "assignee",
        "has_problems",
        "updated_at",
    ]
    list_filter = ["project", "kind", "status", "split", "has_problems"]
    search_fields = ["instruction", "output", "source"]
    list_select_related = ["project", "assignee"]
    autocomplete_fields = ["assignee", "tags"]
    readonly_fields = [
        "content_hash",
        "version",
        "created_at",
        "updated_at",
        "submitted_at",
        "reviewed_at",
    ]
    show_full_result_count = False
    inlines = [DraftInline, EventInline]
    fieldsets = [
        (
            None,
            {"fields": ["project", "kind", "status", "assignee", "split", "split_locked", "tags"]},
        ),
        (
            _("Content"),
            {"fields": [f for f in CONTENT_FIELDS if f != "kind"]},
        ),
        (
            _("Provenance"),
            {"fields": ["source", "source_index", "extra", "meta", "content_hash", "version"]},
        ),
        (_("Checks"), {"fields": ["tool_name", "problems", "has_problems"]}),
        (_("Dates"), {"fields": ["created_at", "updated_at", "submitted_at", "reviewed_at"]}),
    ]

    def save_model(self, request, obj, form, change) -> None:
        # An edit in the admin is an edit like any other: it moves the version on and
        # leaves a line in the record's history.
        obj.content_hash = obj.compute_content_hash()
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)
        obj.history_events.create(
            actor=request.user,
            action="admin_edit" if change else "admin_create",
            version=obj.version,
        )


@admin.register(RecordEvent)
class RecordEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "record", "actor", "action", "version"]
    list_filter = ["action"]
    raw_id_fields = ["record"]
    readonly_fields = ["record", "actor", "action", "version", "data", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "record",
        "model_name",
        "parse_status",
        "latency_ms",
        "completion_tokens",
        "created_at",
    ]
    list_filter = ["model_name", "parse_status"]
    raw_id_fields = ["record"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "project", "action", "target"]
    list_filter = ["action", "project"]
    readonly_fields = ["created_at", "actor", "project", "action", "target", "data"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExportSnapshot)
class ExportSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "format", "counts", "created_by", "created_at"]
    list_filter = ["project", "format"]
    readonly_fields = [f.name for f in ExportSnapshot._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # snapshots are immutable


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "created_by", "created_at"]
    list_filter = ["project"]


@admin.register(WorkInProgress)
class WorkInProgressAdmin(admin.ModelAdmin):
    list_display = ["record", "user", "base_version", "updated_at"]
    raw_id_fields = ["record"]


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    """Failed-login counts: an operator reads who is being guessed at and deletes a row to lift
    a lock-out at once; rows are written only by the login views (config/security.py)."""

    list_display = ["key", "failures", "window_start"]
    search_fields = ["key"]
    readonly_fields = ["key", "failures", "window_start"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
