from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the tests read the real data files in ../shared/data.")
    return path


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, **extra):
        return django_user_model.objects.create_user(
            username=username, password="pw-" + username, **extra
        )

    return make


@pytest.fixture
def project(db):
    from curation.models import Project

    return Project.objects.create(
        slug="shop",
        name="Live shop assistant",
        task_kind=Project.TaskKind.TOOL_CALLING,
        system_prompt="你是一个淘宝直播的助手。",
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "check_stock",
                    "description": "查询库存",
                    "parameters": {
                        "type": "object",
                        "properties": {"product": {"type": "string"}},
                        "required": ["product"],
                    },
                },
            }
        ],
    )


@pytest.fixture
def people(project, make_user):
    """One user per role in `project`, an outsider, and a staff engineer for the admin."""
    from curation.models import Membership, Role

    users = {
        "annotator": make_user("anna"),
        "reviewer": make_user("rita"),
        "engineer": make_user("emil", is_staff=True),
        "outsider": make_user("otto"),
    }
    for role in (Role.ANNOTATOR, Role.REVIEWER, Role.ENGINEER):
        Membership.objects.create(project=project, user=users[role], role=role)
    return users


@pytest.fixture
def client_for(client, people):
    def login(who: str):
        client.force_login(people[who])
        return client

    return login


@pytest.fixture
def api_for(people):
    """An API client that authenticates as `who` with their token, as a script would."""

    from rest_framework.test import APIClient

    from core.tokens import issue_token

    def make(who: str) -> APIClient:
        client = APIClient()
        _, key = issue_token(people[who], name="tests")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make
