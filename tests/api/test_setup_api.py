"""Project setup through the REST API: create, update, members, tools; the services' checks
come back in the one error shape."""

from __future__ import annotations

import pytest

from curation.models import Project, Record, Role

pytestmark = pytest.mark.django_db

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def test_an_engineer_creates_a_project_and_becomes_its_engineer(api_for, people):
    response = api_for("engineer").post(
        "/api/projects/",
        {"slug": "invoices", "name": "发票", "task_kind": "tool_calling", "tools": [TOOL]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["slug"], body["role"], body["tools"]) == ("invoices", "engineer", [TOOL])
    assert Project.objects.get(slug="invoices").role_of(people["engineer"]) == Role.ENGINEER


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"slug": "../../x"}, 400, "slug"),
        ({"slug": "shop"}, 409, "slug"),
        ({"slug": "ok", "tools": [{"name": "bad name"}]}, 400, "tools"),
        ({"slug": "ok", "task_kind": "poetry"}, 400, "task_kind"),
    ],
)
def test_bad_projects_are_refused_with_the_field_named(api_for, people, body, status, where):
    response = api_for("engineer").post("/api/projects/", body, format="json")
    assert response.status_code == status
    assert response.json()["error"]["where"] == where


def test_tool_errors_name_each_tool_and_field(api_for, people):
    response = api_for("engineer").post(
        "/api/projects/",
        {"slug": "ok", "tools": [TOOL, {"name": "x", "parameters": {"type": "strin"}}]},
        format="json",
    )
    errors = response.json()["error"]["tool_errors"]
    assert [(e["index"], e["field"]) for e in errors][-1] == (1, "parameters")


def test_annotators_may_not_create_projects(api_for, people):
    response = api_for("annotator").post("/api/projects/", {"slug": "mine"}, format="json")
    assert response.status_code == 403


def test_update_settings(api_for, project):
    client = api_for("engineer")
    response = client.patch(
        f"/api/projects/{project.slug}/",
        {"system_prompt": "新", "claim_timeout_minutes": 10, "annotation_overlap": 2},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["claim_timeout_minutes"], response.json()["annotation_overlap"]) == (
        10,
        2,
    )
    bad = client.patch(f"/api/projects/{project.slug}/", {"prompt_template": "x"}, format="json")
    assert (bad.status_code, bad.json()["error"]["where"]) == (400, "prompt_template")
    forbidden = api_for("reviewer").patch(f"/api/projects/{project.slug}/", {}, format="json")
    assert forbidden.status_code == 403


def test_members_add_change_remove(api_for, project, people, make_user):
    make_user("bea", email="bea@example.com")
    client = api_for("engineer")
    url = f"/api/projects/{project.slug}/members/"
    added = client.post(url, {"user": "bea@example.com", "role": "annotator"}, format="json")
    assert added.status_code == 201 and added.json()["username"] == "bea"
    assert "bea" in [m["username"] for m in client.get(url).json()]
    changed = client.patch(f"{url}bea/", {"role": "reviewer"}, format="json")
    assert changed.json()["role"] == "reviewer"
    assert client.delete(f"{url}bea/").json() == {"released": 0}
    assert client.delete(f"{url}bea/").status_code == 404
    last = client.delete(f"{url}emil/")
    assert last.status_code == 403 and "last engineer" in last.json()["error"]["message"]
    assert api_for("reviewer").get(url).status_code == 403
    assert api_for("outsider").get(url).status_code == 404


def test_tools_put_reports_what_it_flagged(api_for, project):
    Record.objects.create(
        project=project,
        kind="conversation",
        messages=[
            {"role": "user", "content": "杯子"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"function": {"name": "check_stock", "arguments": {"product": "杯"}}}
                ],
            },
        ],
        tool_name="check_stock",
        content_hash="c",
    )
    client = api_for("engineer")
    url = f"/api/projects/{project.slug}/tools/"
    response = client.put(url, {"tools": [TOOL]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["newly_flagged"], body["flagged"]) == (1, 1)  # check_stock is gone
    assert api_for("annotator").get(url).json()["tools"] == [TOOL]
    assert api_for("annotator").put(url, {"tools": []}, format="json").status_code == 403
