"""Project setup services: the one create_project, settings, tools and proposals from a file."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from core.errors import InvalidInput, NotAllowed
from curation import projects
from curation.models import AuditEvent, Project, Record, Role
from curation.toolcheck import check_tool_definitions

pytestmark = pytest.mark.django_db

GOOD = {
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


@pytest.mark.parametrize(
    "slug", ["../../x", "..", "a/b", "Shop", "-x", "x-", "", "a" * 81, "new", "交易", "a b"]
)
def test_a_bad_slug_is_refused_and_names_the_field(slug, people):
    with pytest.raises(InvalidInput) as caught:
        projects.create_project(people["engineer"], slug=slug, name="x")
    assert caught.value.where == "slug"
    assert not Project.objects.filter(name="x").exists()


def test_import_records_create_refuses_a_slug_that_climbs_out_of_a_folder(shared_data, db):
    with pytest.raises(CommandError, match="not a valid project slug"):
        call_command(
            "import_records",
            str(shared_data / "alpaca_zh_demo.json"),
            "--project",
            "../../x",
            "--create",
        )
    assert not Project.objects.exists()


def test_the_creator_becomes_the_engineer_and_the_audit_log_says_so(people):
    emil = people["engineer"]
    project = projects.create_project(
        emil, slug="invoices", name="Invoices", task_kind="tool_calling", tools=[GOOD["function"]]
    )
    assert project.role_of(emil) == Role.ENGINEER
    assert project.tools == [GOOD]  # a bare tool is stored in the OpenAI shape
    event = AuditEvent.objects.get(action="project_create")
    assert (event.actor, event.target, event.data["tools"]) == (emil, "invoices", ["check_stock"])


def test_a_taken_slug_is_a_conflict(people, project):
    with pytest.raises(projects.SlugTaken):
        projects.create_project(people["engineer"], slug=project.slug)


@override_settings(TUNEDESK_PROJECT_CREATORS="engineers")
def test_who_may_create_projects_follows_the_setting(people):
    assert projects.can_create_projects(people["engineer"])
    for who in ("annotator", "reviewer", "outsider"):
        assert not projects.can_create_projects(people[who])
        with pytest.raises(NotAllowed):
            projects.create_project(people[who], slug="mine")
    with override_settings(TUNEDESK_PROJECT_CREATORS="superusers"):
        assert not projects.can_create_projects(people["engineer"])
    with override_settings(TUNEDESK_PROJECT_CREATORS="everyone"):
        assert projects.can_create_projects(people["outsider"])


@pytest.mark.parametrize(
    ("tools", "field", "code"),
    [
        ("[]", "tool", "not_list"),
        ([3], "tool", "not_object"),
        ([{"type": "retrieval", "function": {}}], "tool", "bad_type"),
        ([{"name": "has space"}], "name", "bad_name"),
        ([GOOD, GOOD], "name", "duplicate_name"),
        ([{"name": "f", "parameters": []}], "parameters", "parameters_not_object"),
        (
            [{"name": "f", "parameters": {"type": "string"}}],
            "parameters",
            "parameters_not_object_type",
        ),
        (
            [
                {
                    "name": "f",
                    "parameters": {"type": "object", "properties": {"x": {"type": "strin"}}},
                }
            ],
            "parameters",
            "bad_schema",
        ),
        (
            [{"name": "f", "parameters": {"type": "object", "required": "x"}}],
            "parameters",
            "bad_schema",
        ),
    ],
)
def test_tool_definitions_are_checked_against_the_tools_shape_and_the_meta_schema(
    tools, field, code
):
    errors = check_tool_definitions(tools)
    assert [(e.field, e.code) for e in errors][-1] == (field, code)
    assert projects.tool_error_text(errors[-1])  # every code has words


def test_saving_tools_reflags_records_and_counts_what_it_broke(people, project):
    ok = Record.objects.create(
        project=project,
        kind="conversation",
        messages=[
            {"role": "user", "content": "还有吗"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"function": {"name": "check_stock", "arguments": '{"product": "杯子"}'}}
                ],
            },
        ],
        tool_name="check_stock",
        content_hash="a",
    )
    stricter = {
        **GOOD,
        "function": {
            **GOOD["function"],
            "parameters": {
                "type": "object",
                "properties": {"product": {"type": "string"}, "size": {"type": "string"}},
                "required": ["product", "size"],
            },
        },
    }
    change = projects.tool_change(project, [stricter])
    assert (change.broken_count, change.flagged_now) == (1, 0)
    assert change.broken[0]["id"] == ok.pk
    projects.set_tools(project, people["engineer"], [stricter])
    ok.refresh_from_db()
    assert ok.has_problems and "size" in ok.problems[0]["message"]
    assert AuditEvent.objects.get(action="tools_update").data["newly_flagged"] == 1
    with pytest.raises(NotAllowed):
        projects.set_tools(project, people["reviewer"], [GOOD])


def test_settings_are_checked_and_named(people, project):
    emil = people["engineer"]
    projects.update_project(project, emil, system_prompt="新", claim_timeout_minutes=5)
    project.refresh_from_db()
    assert project.claim_timeout.total_seconds() == 300
    for bad, where in (
        ({"prompt_template": "no placeholder"}, "prompt_template"),
        ({"annotation_overlap": 0}, "annotation_overlap"),
        ({"task_kind": "poetry"}, "task_kind"),
        ({"language": "klingon"}, "language"),
        ({"name": " "}, "name"),
    ):
        with pytest.raises(InvalidInput) as caught:
            projects.update_project(project, emil, **bad)
        assert caught.value.where == where
    with pytest.raises(NotAllowed):
        projects.update_project(project, people["annotator"], name="x")


def test_a_glaive_file_proposes_its_tools_once_each_and_checked(shared_data):
    proposal = projects.propose_from_file(shared_data / "glaive_toolcall_zh_demo.json")
    names = [t["function"]["name"] for t in proposal.tools]
    assert proposal.task_kind == Project.TaskKind.TOOL_CALLING
    assert len(names) == len(set(names)) > 20
    assert "generate_invoice" in names
    assert not proposal.tool_errors
    assert proposal.variants["calculate_area"] > 0  # same name, other schemas: said, not merged
    assert not check_tool_definitions(proposal.tools)
