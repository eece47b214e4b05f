"""The API tokens page: each user makes named tokens, sees them and revokes them.

A new key is shown once, in the answer to the POST that made it; the database holds only
its digest, so later visits show its name, prefix and dates.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from core import tokens
from core.errors import CurationError
from core.models import ApiToken


class NewTokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text=gettext_lazy('What will use it, e.g. "ci pipeline".'),
    )


@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    mine = ApiToken.objects.filter(user=request.user, revoked_at=None)
    context, status, form = {}, 200, NewTokenForm()
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "create":
            form = NewTokenForm(request.POST)
            if form.is_valid():
                try:
                    context["new_token"], context["new_key"] = tokens.issue_token(
                        request.user, name=form.cleaned_data["name"]
                    )
                    form = NewTokenForm()
                except CurationError as e:
                    context["notice"], status = e.message, e.status
            else:
                status = 400
        elif action == "revoke":
            pk = request.POST.get("token", "")
            token = get_object_or_404(mine, pk=int(pk) if pk.isdigit() else 0)
            tokens.revoke_token(token, request.user)
            context["notice"] = _(
                "The token %(name)s is revoked; scripts using it now get 401."
            ) % {"name": token.name}
        else:
            context["notice"], status = _("Choose create or revoke."), 400
    context.update(tokens=mine.all(), form=form)
    return render(request, "curation/tokens.html", context, status=status)
