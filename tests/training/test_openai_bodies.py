"""/v1/chat/completions answers every bad body with an OpenAI-style JSON error, never a 500:
the bodies of issue 15, the token budget under every alias, the model's context and the
time limit of a request."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from core.tokens import issue_token
from curation.models import Membership, Role
from training.models import BaseModel, TrainingRun

pytestmark = pytest.mark.django_db
USER = [{"role": "user", "content": "List a product"}]


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tiny_registered(tiny_model_dir):
    return BaseModel.objects.create(
        name="tiny", kind=BaseModel.Kind.LOCAL, source=str(tiny_model_dir)
    )


@pytest.fixture
def post(client, make_user):
    key = issue_token(make_user("script"), name="openai client")[1]

    def send(body, *, raw: str | None = None):
        return client.post(
            "/v1/chat/completions",
            raw if raw is not None else json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    return send


def _refused(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["message"] and error["type"]
    return error


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"function": None}]}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": 5}}]}, "tools"),
        ({"tools": "check_stock"}, "tools"),
        ({"max_completion_tokens": "abc"}, "max_completion_tokens"),
        ({"max_completion_tokens": -5}, "max_completion_tokens"),
        ({"max_completion_tokens": 100000}, "max_completion_tokens"),
        ({"max_tokens": 100000}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_new_tokens": 10**9}, "max_new_tokens"),
        ({"stop": 5}, "stop"),
        ({"stop": ["a", 5]}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"seed": "abc"}, "seed"),
        ({"seed": 2**70}, "seed"),
        ({"seed": -1}, "seed"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 9}, "temperature"),
        (
            {"messages": [{"role": "assistant", "content": None, "tool_calls": "junk"}]},
            "messages[0].tool_calls",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": None}]}]},
            "messages[0].tool_calls[0]",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": 1}}]}]},
            "messages[0].tool_calls[0]",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "tool_calls": []}]},
            "messages[0].tool_calls",
        ),
    ],
)
def test_a_bad_body_is_a_json_400_naming_the_parameter(post, tiny_registered, extra, param):
    error = _refused(post({"model": "tiny", "messages": USER} | extra))
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        '{"model": "tiny", "messages": ' + "[" * 5000 + "]" * 5000 + "}",
        "{not json",
        '"just text"',
        "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
        '{"model": "tiny", "messages": [{"role": "user", "content": "\\ud800"}]}',
    ],
    ids=["100k-deep", "5000-deep-messages", "not-json", "a-string", "bad-utf8", "surrogate"],
)
def test_a_body_that_is_not_a_request_is_a_json_400(post, tiny_registered, raw):
    _refused(post(None, raw=raw))


def test_a_body_over_djangos_limit_is_a_json_413(post, tiny_registered, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    _refused(post({"model": "tiny", "messages": [{"role": "user", "content": "x" * 2000}]}), 413)


def test_a_run_whose_adapter_folder_is_missing_is_a_json_404(post, tiny_registered, tmp_path):
    from curation.models import ExportSnapshot, Project

    project = Project.objects.create(slug="p", name="p")
    snapshot = ExportSnapshot.objects.create(project=project, format="openai_chat")
    run = TrainingRun.objects.create(
        project=project,
        snapshot=snapshot,
        base_model=tiny_registered,
        adapter_path=str(tmp_path / "gone"),
    )
    script = User.objects.get(username="script")
    Membership.objects.create(project=project, user=script, role=Role.ANNOTATOR)
    error = _refused(post({"model": f"run-{run.pk}", "messages": USER}), 404)
    assert "missing" in error["message"]
    assert error["param"] == "model"


def test_prompt_and_answer_must_fit_the_models_context(post, tiny_registered, tiny):
    model, _ = tiny
    context = model.config.max_position_embeddings
    long = [{"role": "user", "content": "word " * context}]
    error = _refused(post({"model": "tiny", "messages": long}))
    assert f"context is {context} tokens" in error["message"]
    assert error["param"] == "messages"
    short_but_greedy = {"model": "tiny", "messages": USER, "max_tokens": 4096}
    if context < 4096:
        assert "asked for 4096" in _refused(post(short_but_greedy))["message"]


def test_a_request_past_the_time_limit_is_a_json_error(post, tiny_registered, settings):
    settings.TUNEDESK_CHAT_TIME_LIMIT_S = 0
    response = post({"model": "tiny", "messages": USER, "max_tokens": 8})
    error = _refused(response, 503)
    assert error["type"] == "timeout_error"
    assert "limit" in error["message"]


def test_a_good_request_still_gets_a_completion(post, tiny_registered):
    response = post({"model": "tiny", "messages": USER, "max_completion_tokens": 4, "seed": 3})
    assert response.status_code == 200, response.content[:300]
    assert 1 <= response.json()["usage"]["completion_tokens"] <= 4
