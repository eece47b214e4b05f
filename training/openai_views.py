"""Tunedesk's own OpenAI-compatible endpoint: GET /v1/models, POST /v1/chat/completions.

Authenticated by a Tunedesk API token (`Authorization: Bearer <token>`), so any OpenAI client
can try a base model or a tuned adapter. Errors use OpenAI's error body.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core import tokens
from curation.formats.jsonio import unpaired_surrogate
from curation.models import Project
from training.models import BaseModel, TrainingRun
from training.serving import (
    MAX_TOKENS_ALIASES,
    MAX_TOKENS_LIMIT,
    ModelPool,
    RequestRefused,
    Served,
)


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
        body = json.loads(text := request.body.decode())
    except RequestDataTooBig:
        return error(
            413,
            f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KiB.",
            param="messages",
        )
    except (ValueError, UnicodeDecodeError) as e:
        return error(400, f"The request body is not JSON ({e}).")
    except RecursionError:
        return error(400, "The request body nests arrays or objects too deeply to read.")
    if unpaired_surrogate(text, body):
        return error(400, "The body holds half of a surrogate pair (\\ud800-\\udfff), not text.")
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
    if served.adapter and not Path(served.adapter).is_dir():
        return error(
            404,
            f"The adapter of {served.id!r} is missing from {served.adapter}: "
            "restore the run's folder or train the run again.",
            param="model",
            type_="not_found_error",
        )
    from training.serving import chat_completion

    try:
        return JsonResponse(
            chat_completion(pool(), served, body, time_limit_s=settings.TUNEDESK_CHAT_TIME_LIMIT_S)
        )
    except RequestRefused as e:
        return error(e.status, e.message, param=e.param, type_=e.type)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
        if problem := _message_problem(f"messages[{i}]", m):
            return problem
    for name in MAX_TOKENS_ALIASES:
        value = body.get(name)
        if value is not None and not (_is_int(value) and 1 <= value <= MAX_TOKENS_LIMIT):
            return name, f"'{name}' must be a whole number from 1 to {MAX_TOKENS_LIMIT}."
    temperature = body.get("temperature")
    if temperature is not None and not (_is_number(temperature) and 0 <= temperature <= 2):
        return "temperature", "'temperature' must be a number from 0 to 2."
    seed = body.get("seed")
    if seed is not None and not (_is_int(seed) and 0 <= seed < 2**63):
        return "seed", "'seed' must be a whole number from 0 to 2**63 - 1."
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (
            isinstance(stop, list)
            and len(stop) <= 4
            and all(isinstance(s, str) and s for s in stop)
        )
    ):
        return "stop", "'stop' must be text or a list of up to 4 non-empty texts."
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list)
        and all(
            isinstance(t, dict)
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
            for t in tools
        )
    ):
        return "tools", "'tools' must be a list of {type: function, function: {name, ...}}."
    return None


def _message_problem(where: str, m) -> tuple[str, str] | None:
    if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
        return where, f"{where} needs a role of system, user, assistant or tool."
    if m.get("content") is not None and not isinstance(m["content"], str):
        return f"{where}.content", f"{where}.content must be text."
    calls = m.get("tool_calls")
    if calls is None:
        return None
    if m["role"] != "assistant" or not isinstance(calls, list):
        return (
            f"{where}.tool_calls",
            f"{where}.tool_calls must be a list, on an assistant message.",
        )
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(function, dict)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments", ""), str | dict)
        ):
            return (
                f"{where}.tool_calls[{j}]",
                f"{where}.tool_calls[{j}] must be "
                '{"type": "function", "function": {"name": text, "arguments": JSON text}}.',
            )
    return None
