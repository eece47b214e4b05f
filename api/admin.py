"""API tokens in the admin: list, search and revoke; a staff member may make a token for any
user (a CI account, say), and the key is shown once on the page that answers the form.

The key goes straight into that answer, not into a message: messages can spill into the
session table, and no key may reach the database.
"""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import tokens
from core.models import ApiToken


class RevokedFilter(admin.SimpleListFilter):
    title = _("revoked")
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("no", _("Active")), ("yes", _("Revoked"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created", "last_used", "revoked_at"]
    list_filter = [RevokedFilter]
    search_fields = ["name", "prefix", "user__username"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name"]
        return ["user", "name", "prefix", "created", "last_used", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["user", "prefix", "created", "last_used", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        token, key = tokens.issue_token(obj.user, name=obj.name, actor=request.user)
        obj.pk, obj.prefix, obj.created = token.pk, token.prefix, token.created
        obj._key = key  # for response_add only; never saved

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token": obj,
            "key": obj._key,
            "title": _("The new API token"),
        }
        return TemplateResponse(request, "admin/api/apitoken/key.html", context)

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        done = [tokens.revoke_token(t, request.user) for t in queryset.filter(revoked_at=None)]
        self.message_user(
            request,
            ngettext("Revoked %(n)d token.", "Revoked %(n)d tokens.", len(done)) % {"n": len(done)},
        )
