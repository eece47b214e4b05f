from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from training.models import BaseModel, Comparison, Judgement, TrainingRun


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "source", "base_url", "api_model", "native_tools"]
    list_filter = ["kind"]
    search_fields = ["name", "source", "api_model"]


class TrainingRunForm(forms.ModelForm):
    """Saving the form launches a run (training.runs.launch_run); a run is never edited."""

    queue = forms.ChoiceField(choices=[("default", "default"), ("cpu", "cpu"), ("gpu", "gpu")])
    processes = forms.IntegerField(
        min_value=1,
        initial=1,
        required=False,
        help_text="Training processes the worker launches under torchrun: one per GPU, or "
        "that many CPU processes. Wins over a processes key in the JSON.",
    )

    class Meta:
        model = TrainingRun
        fields = ["project", "snapshot", "base_model", "method", "config"]
        help_texts = {
            "config": 'Hyper-parameters as JSON, e.g. {"max_steps": 50, "lora_rank": 16}; '
            "empty means the defaults."
        }

    def clean(self) -> dict:
        from core.errors import CurationError
        from curation.models import Role
        from training.runs import parse_config

        data = super().clean()
        if data.get("processes"):
            data["config"] = {**(data.get("config") or {}), "processes": data["processes"]}
        project, snapshot = data.get("project"), data.get("snapshot")
        if project and not project.has_role(self.user, Role.ENGINEER):
            raise ValidationError("Only engineers of this project can launch training runs.")
        if project and snapshot and snapshot.project_id != project.pk:
            self.add_error("snapshot", "This snapshot belongs to another project.")
        try:
            parse_config(data.get("method") or "sft", data.get("config") or {})
        except CurationError as e:
            self.add_error("config", str(e))
        return data


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "base_model", "method", "job", "created_at"]
    list_filter = ["project", "method", "base_model"]
    raw_id_fields = ["job", "snapshot"]
    form = TrainingRunForm
    actions = ["launch_again"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.user = request.user
        return form

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [*(f.name for f in TrainingRun._meta.fields), "queue"] if obj else []

    @admin.display(description="queue")
    def queue(self, obj: TrainingRun) -> str:
        # A saved run shows the queue its job went to (the add form's own field has no
        # value on the model: the page said "Queue: None" after choosing "default").
        return obj.job.queue if obj.job else "–"

    def save_model(self, request, obj, form, change) -> None:
        from core.errors import CurationError
        from training.runs import launch_run

        data = form.cleaned_data
        try:
            run = launch_run(
                data["project"],
                request.user,
                base_model=data["base_model"],
                snapshot=data["snapshot"],
                method=data["method"],
                config=data.get("config") or {},
                queue=data["queue"],
            )
        except CurationError as e:  # checked in the form already; a race is still an error
            raise ValidationError(str(e)) from e
        obj.pk = run.pk
        obj.refresh_from_db()

    @admin.action(description="Launch again (same snapshot, model and hyper-parameters)")
    def launch_again(self, request, queryset) -> None:
        from core.errors import CurationError
        from training.runs import launch_again

        for run in queryset:
            try:
                new = launch_again(run, request.user)
            except CurationError as e:
                self.message_user(request, f"Run #{run.pk}: {e}", level="error")
            else:
                self.message_user(request, f"Run #{run.pk} launched again as run #{new.pk}.")


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "run",
        "contender_names",
        "status",
        "report_link",
        "created_at",
    ]
    list_filter = ["project"]
    raw_id_fields = ["job", "snapshot", "run"]
    readonly_fields = ["report_link", "job", "report", "created_by", "created_at"]
    actions = ["cancel"]

    def has_add_permission(self, request) -> bool:
        return False  # launched from a training run (page or `manage.py compare`)

    @admin.display(description="contenders")
    def contender_names(self, obj: Comparison) -> str:
        return ", ".join(c.get("name", "?") for c in obj.contenders)

    @admin.display(description="status")
    def status(self, obj: Comparison) -> str:
        return obj.job.get_status_display() if obj.job else "–"

    @admin.display(description="report")
    def report_link(self, obj: Comparison) -> str:
        from django.urls import reverse
        from django.utils.html import format_html

        href = reverse("training:comparison", args=[obj.project.slug, obj.pk])
        return format_html('<a href="{}">{}</a>', href, "open")

    @admin.action(description="Cancel the selected comparisons")
    def cancel(self, request, queryset) -> None:
        from jobs.services import request_cancel

        for comparison in queryset.select_related("job"):
            if comparison.job:
                request_cancel(comparison.job)
        self.message_user(request, f"Asked {queryset.count()} comparison(s) to stop.")


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = ["comparison", "example", "left", "right", "choice", "judge", "created_at"]
    list_filter = ["choice", "comparison"]
    raw_id_fields = ["comparison", "judge"]
