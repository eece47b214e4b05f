"""Tunedesk's OpenAI-compatible endpoint, called over real HTTP by Tunedesk's own client."""

import json
import urllib.request

import pytest

from core.tokens import issue_token
from training.backends import BackendError, Endpoint, chat
from training.models import BaseModel
from training.openai_views import validate_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tiny_registered(tiny_model_dir):
    return BaseModel.objects.create(
        name="tiny", kind=BaseModel.Kind.LOCAL, source=str(tiny_model_dir)
    )


@pytest.fixture
def token(make_user):
    return issue_token(make_user("script"), name="openai client")[1]


def test_the_http_backend_gets_a_completion_from_the_live_endpoint(
    live_server, tiny_registered, token, monkeypatch
):
    monkeypatch.setenv("TD_TEST_KEY", token)
    endpoint = Endpoint(base_url=live_server.url + "/v1", model="tiny", api_key_env="TD_TEST_KEY")
    response, latency = chat(endpoint, [{"role": "user", "content": "你好"}], max_tokens=8)
    choice = response["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert 1 <= response["usage"]["completion_tokens"] <= 8
    assert response["usage"]["prompt_tokens"] > 0
    assert response["model"] == "tiny"
    assert latency > 0


def test_greedy_answers_are_repeatable(live_server, tiny_registered, token, monkeypatch):
    monkeypatch.setenv("TD_TEST_KEY", token)
    endpoint = Endpoint(base_url=live_server.url + "/v1", model="tiny", api_key_env="TD_TEST_KEY")
    messages = [{"role": "user", "content": "List a product"}]
    first, _ = chat(endpoint, messages, max_tokens=6)
    second, _ = chat(endpoint, messages, max_tokens=6)
    assert first["choices"][0]["message"] == second["choices"][0]["message"]


def test_models_lists_the_registered_local_models(live_server, tiny_registered, token):
    request = urllib.request.Request(
        live_server.url + "/v1/models", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:
        ids = [m["id"] for m in json.loads(response.read())["data"]]
    assert {"tiny", "smollm2-135m-instruct"} <= set(ids)


def test_a_wrong_token_is_refused_with_an_openai_error(live_server, tiny_registered, monkeypatch):
    monkeypatch.setenv("TD_TEST_KEY", "not-a-token")
    endpoint = Endpoint(base_url=live_server.url + "/v1", model="tiny", api_key_env="TD_TEST_KEY")
    with pytest.raises(BackendError, match="answered 401"):
        chat(endpoint, [{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("keyword", ["Bearer", "Token"])
def test_models_answer_only_a_live_token_of_an_active_user(client, make_user, keyword):
    from core.tokens import revoke_token

    user = make_user("ci")
    first, first_key = issue_token(user, name="ci")
    _, second_key = issue_token(user, name="notebook")

    def status(key: str) -> int:
        return client.get("/v1/models", HTTP_AUTHORIZATION=f"{keyword} {key}").status_code

    assert status(first_key) == status(second_key) == 200
    revoke_token(first, user)
    assert (status(first_key), status(second_key)) == (401, 200)
    user.is_active = False
    user.save()
    assert status(second_key) == 401


def test_an_unknown_model_is_a_404_naming_the_model(live_server, token, monkeypatch):
    monkeypatch.setenv("TD_TEST_KEY", token)
    endpoint = Endpoint(base_url=live_server.url + "/v1", model="nope", api_key_env="TD_TEST_KEY")
    with pytest.raises(BackendError, match="answered 404.*'nope' does not exist"):
        chat(endpoint, [{"role": "user", "content": "hi"}])


def test_a_missing_key_variable_is_named_before_any_request():
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="TD_NO_SUCH_KEY")
    with pytest.raises(BackendError, match="TD_NO_SUCH_KEY .* is not set"):
        chat(endpoint, [{"role": "user", "content": "hi"}])


def test_an_unreachable_server_is_reported_clearly():
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(BackendError, match="could not be reached"):
        chat(endpoint, [{"role": "user", "content": "hi"}], timeout=2)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], ""),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            "max_tokens",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{}]}, "tools"),
    ],
)
def test_bad_requests_name_the_parameter(body, param):
    assert validate_request(body)[0] == param
