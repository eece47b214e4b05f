from django.contrib import admin

from training.models import BaseModel


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "source", "base_url", "api_model"]
    list_filter = ["kind"]
    search_fields = ["name", "source", "api_model"]
