"""Tunedesk's own OpenAI-compatible endpoint: GET /v1/models, POST /v1/chat/completions.

Authenticated by a Tunedesk API token (`Authorization: Bearer <token>`), so any OpenAI client
can try a base model or a tuned adapter. Errors use OpenAI's error body.
"""

from __future__ import annotations

import json
from functools import cache

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from api import tokens
from curation.models import Project
from training.models import BaseModel, TrainingRun
from training.serving import ModelPool, Served


def error(status: int, message: str, *, type_: str = "invalid_request_error", param=None):
    body = {"error": {"message": message, "type": type_, "param": param, "code": None}}
    return JsonResponse(body, status=status)


def unauthenticated() -> JsonResponse:
    return error(
        401,
        "Give a Tunedesk API token as 'Authorization: Bearer <token>'.",
        type_="authentication_error",
    )


def token_user(request: HttpRequest):
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() not in tokens.SCHEMES or not key.strip():
        return None
    return tokens.user_for_key(key)


def served_models(user) -> dict[str, Served]:
    """Model ids this user may call: every local base model, and the adapters of finished
    runs in projects the user belongs to (as `run-<id>`)."""
    models = {
        m.name: Served(m.name, m.model_source())
        for m in BaseModel.objects.exclude(kind=BaseModel.Kind.HTTP)
    }
    runs = TrainingRun.objects.select_related("base_model").exclude(adapter_path="")
    if not user.is_superuser:
        runs = runs.filter(project__in=Project.objects.filter(memberships__user=user))
    for run in runs:
        if run.base_model.kind != BaseModel.Kind.HTTP:
            models[f"run-{run.pk}"] = Served(
                f"run-{run.pk}", run.base_model.model_source(), run.adapter_path
            )
    return models


@cache
def pool() -> ModelPool:
    return ModelPool(cache_dir=settings.MODEL_CACHE_DIR)


@login_not_required
@require_GET
def list_models(request: HttpRequest) -> JsonResponse:
    user = token_user(request)
    if user is None:
        return unauthenticated()
    data = [{"id": name, "object": "model", "owned_by": "tunedesk"} for name in served_models(user)]
    return JsonResponse({"object": "list", "data": data})


@csrf_exempt
@login_not_required
@require_POST
def chat_completions(request: HttpRequest) -> JsonResponse:
    user = token_user(request)
    if user is None:
        return unauthenticated()
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as e:
        return error(400, f"The request body is not JSON ({e}).")
    if problem := validate_request(body):
        return error(400, problem[1], param=problem[0])
    if body.get("stream"):
        return error(400, "Streaming is not supported; send stream=false.", param="stream")
    served = served_models(user).get(body["model"])
    if served is None:
        return error(
            404,
            f"The model {body['model']!r} does not exist or you cannot use it. "
            "GET /v1/models lists yours.",
            param="model",
            type_="not_found_error",
        )
    from training.serving import chat_completion

    return JsonResponse(chat_completion(pool(), served, body))


def validate_request(body) -> tuple[str, str] | None:
    """(param, message) for the first problem of a chat request body, or None."""
    if not isinstance(body, dict):
        return "", "The body must be a JSON object."
    if not isinstance(body.get("model"), str):
        return "model", "'model' is required: a model id from GET /v1/models."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages", "'messages' must be a non-empty list of {role, content} objects."
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            return (
                f"messages[{i}]",
                f"messages[{i}] needs a role of system, user, assistant or tool.",
            )
        if m.get("content") is not None and not isinstance(m["content"], str):
            return f"messages[{i}].content", f"messages[{i}].content must be text."
    for name, low, high in (("max_tokens", 1, 4096), ("temperature", 0, 2)):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or not low <= value <= high):
            return name, f"'{name}' must be a number from {low} to {high}."
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list)
        and all(
            isinstance(t, dict) and isinstance(t.get("function", {}).get("name"), str)
            for t in tools
        )
    ):
        return "tools", "'tools' must be a list of {type: function, function: {name, ...}}."
    return None
