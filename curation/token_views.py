"""The API tokens page: each user creates, replaces or revokes their own token.

A new key is shown once, in the answer to the POST that made it; later visits show only
when it was made.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token


@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    context, status = {}, 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action in ("create", "revoke"):
            Token.objects.filter(user=request.user).delete()
        if action == "create":
            context["new_key"] = Token.objects.create(user=request.user).key
        elif action == "revoke":
            context["notice"] = _("Your token is revoked; scripts using it now get 401.")
        else:
            context["notice"], status = _("Choose create or revoke."), 400
    context["token"] = Token.objects.filter(user=request.user).first()
    return render(request, "curation/tokens.html", context, status=status)
