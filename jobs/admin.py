from django.contrib import admin

from jobs.models import Job
from jobs.services import request_cancel


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
        for job in queryset:
            request_cancel(job)
        self.message_user(request, f"Asked {queryset.count()} job(s) to stop.")
