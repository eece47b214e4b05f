from django.contrib import admin

from training.models import BaseModel, Comparison, Job, Judgement, TrainingRun


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "source", "base_url", "api_model"]
    list_filter = ["kind"]
    search_fields = ["name", "source", "api_model"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "done", "total", "created_by", "created_at"]
    list_filter = ["kind", "status", "queue"]
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["cancel"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset) -> None:
        from training.jobs import request_cancel

        for job in queryset:
            request_cancel(job)
        self.message_user(request, f"Asked {queryset.count()} job(s) to stop.")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "base_model", "method", "job", "created_at"]
    list_filter = ["project", "method", "base_model"]
    raw_id_fields = ["job", "snapshot"]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "run", "job", "created_at"]
    raw_id_fields = ["job", "snapshot", "run"]


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = ["comparison", "example", "left", "right", "choice", "judge"]
