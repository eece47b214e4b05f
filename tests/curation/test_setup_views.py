"""The setup pages: new project (from a file), settings with the live rendering, the tools
editor's check, members; each answers only the people it is for."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from curation.models import AuditEvent, Project, Record, Role

pytestmark = pytest.mark.django_db


def _glaive(shared_data, rows: int = 40) -> SimpleUploadedFile:
    data = json.loads((shared_data / "glaive_toolcall_zh_demo.json").read_text(encoding="utf-8"))
    body = json.dumps(data[:rows], ensure_ascii=False).encode()
    return SimpleUploadedFile("glaive_toolcall_zh_demo.json", body)


def test_a_project_from_a_file_proposes_tools_and_writes_nothing_until_created(
    client_for, shared_data
):
    client = client_for("engineer")
    url = reverse("curation:project_new")
    page = client.post(url, {"name": "发票", "file": _glaive(shared_data), "action": "preview"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "sharegpt" in html and "generate_invoice" in html
    assert Project.objects.count() == 1  # only the fixture's
    cards = page.context["tool_cards"]
    values = page.context["values"]
    assert values["slug"] == "glaive_toolcall_zh_demo".replace("_", "-")
    assert values["task_kind"] == "tool_calling"
    created = client.post(
        url,
        {
            "action": "create",
            "name": "发票",
            "slug": "invoices",
            "task_kind": values["task_kind"],
            "language": "zh-hans",
            "system_prompt": "",
            "token": values["token"],
            "format": values["format"],
            "use_project_tools": "on",
            "tool_json": [c["json"] for c in cards],
            "tool_keep": [str(c["index"]) for c in cards],
        },
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    project = Project.objects.get(slug="invoices")
    assert created["Location"] == reverse("curation:project_members", args=["invoices"])
    assert len(project.tools) == len(cards)
    assert project.records.count() == 40
    assert not project.records.exclude(tools=None).exists()  # checked against the project's
    assert project.language == "zh-hans"


def test_a_bad_kept_tool_is_shown_on_its_card_and_nothing_is_created(client_for):
    client = client_for("engineer")
    page = client.post(
        reverse("curation:project_new"),
        {
            "action": "create",
            "name": "x",
            "slug": "x-tools",
            "task_kind": "tool_calling",
            "tool_json": ['{"name": "ok"}', '{"name": "bad name"}', "{not json"],
            "tool_keep": ["0", "1", "2"],
        },
    )
    assert page.status_code == 400
    cards = page.context["tool_cards"]
    assert cards[0]["errors"] == []
    assert cards[2]["errors"] and "JSON" in cards[2]["errors"][0]
    assert not Project.objects.filter(slug="x-tools").exists()


def test_a_bad_slug_is_shown_on_the_field(client_for):
    page = client_for("engineer").post(
        reverse("curation:project_new"), {"action": "create", "name": "x", "slug": "../../x"}
    )
    assert page.status_code == 400
    assert 'aria-invalid="true"' in page.content.decode()
    assert page.context["error"].where == "slug"


def test_the_live_rendering_shows_a_real_record_with_the_typed_prompt(client_for, project):
    record = Record.objects.create(
        project=project, kind="instruction", instruction="杯子还有吗", content_hash="r"
    )
    page = client_for("engineer").post(
        reverse("curation:project_render", args=[project.slug]),
        {"system_prompt": "你是新的助手。", "prompt_template": "Q: {instruction}\nA: {response}"},
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert f"#{record.pk}" in html and "你是新的助手。" in html and "check_stock" in html
    assert "Q: 杯子还有吗\nA: " in html  # the prompt template, filled in
    project.refresh_from_db()
    assert project.system_prompt == "你是一个淘宝直播的助手。"  # nothing saved


def test_settings_save_and_refuse_with_the_field_named(client_for, project):
    client = client_for("engineer")
    url = reverse("curation:project_settings", args=[project.slug])
    form = {
        "name": project.name,
        "description": "",
        "task_kind": "tool_calling",
        "language": "zh-hans",
        "system_prompt": "新提示",
        "prompt_template": project.prompt_template,
        "annotation_overlap": "2",
        "claim_timeout_minutes": "15",
    }
    assert client.post(url, form).status_code == 302
    project.refresh_from_db()
    assert (project.annotation_overlap, project.claim_timeout_minutes) == (2, 15)
    page = client.post(url, {**form, "prompt_template": "no placeholder"})
    assert page.status_code == 400
    assert page.context["error"].where == "prompt_template"


def test_the_tool_check_shows_the_test_form_and_the_records_it_would_break(client_for, project):
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
    client = client_for("engineer")
    url = reverse("curation:project_tools_check", args=[project.slug])
    schema = {
        "type": "object",
        "properties": {"product": {"type": "string"}, "color": {"enum": ["红", "蓝"]}},
        "required": ["product", "color"],
    }
    page = client.post(
        url,
        {
            "index": "0",
            "name-0": "check_stock",
            "description-0": "",
            "parameters-0": json.dumps(schema),
        },
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="arg-check_stock-color"' in html and '<option value="蓝">' in html
    assert page.context["card"]["change"].broken_count == 1
    bad = client.post(url, {"index": "0", "name-0": "check_stock", "parameters-0": "{oops"})
    assert "parameters" in bad.context["card"]["errors"]
    assert "arg-check_stock" not in bad.content.decode()


def test_tools_page_saves_cards_and_refuses_a_duplicate(client_for, project):
    client = client_for("engineer")
    url = reverse("curation:project_tools", args=[project.slug])
    assert "arg-check_stock-product" in client.get(url).content.decode()  # the test form
    params = json.dumps({"type": "object", "properties": {"q": {"type": "string"}}})
    saved = client.post(
        url,
        {
            "count": "2",
            "name-0": "check_stock",
            "parameters-0": json.dumps(project.tools[0]["function"]["parameters"]),
            "name-1": "search",
            "description-1": "搜索",
            "parameters-1": params,
        },
    )
    assert saved.status_code == 302
    project.refresh_from_db()
    assert project.tool_names == ["check_stock", "search"]
    dup = client.post(url, {"count": "2", "name-0": "search", "name-1": "search"})
    assert dup.status_code == 400
    assert dup.context["cards"][1]["errors"]["name"]


def test_members_page_adds_changes_and_removes(client_for, project, make_user, people):
    client = client_for("engineer")
    url = reverse("curation:project_members", args=[project.slug])
    make_user("bea", email="bea@example.com")
    assert (
        client.post(
            url, {"action": "add", "user": "bea@example.com", "role": "reviewer"}
        ).status_code
        == 302
    )
    assert project.memberships.get(user__username="bea").role == Role.REVIEWER
    client.post(url, {"action": "role", "username": "bea", "role": "annotator"})
    assert project.memberships.get(user__username="bea").role == Role.ANNOTATOR
    client.post(url, {"action": "remove", "username": "bea"})
    assert not project.memberships.filter(user__username="bea").exists()
    last = client.post(url, {"action": "remove", "username": "emil"})
    assert last.status_code == 403 and "last engineer" in last.content.decode()
    assert AuditEvent.objects.filter(action__startswith="member_").count() == 3


@pytest.mark.parametrize(
    "name",
    ["curation:project_settings", "curation:project_tools", "curation:project_members"],
)
def test_setup_pages_are_for_engineers_only(client_for, project, name):
    url = reverse(name, args=[project.slug])
    assert client_for("engineer").get(url).status_code == 200
    assert client_for("annotator").get(url).status_code == 403
    assert client_for("outsider").get(url).status_code == 404


def test_the_user_menu_links_tokens_and_password(client_for):
    html = client_for("annotator").get(reverse("curation:project_list")).content.decode()
    assert reverse("api_tokens") in html and reverse("password_change") in html
    assert reverse("curation:project_new") not in html  # annotators may not create
    assert reverse("curation:project_new") in client_for("engineer").get("/").content.decode()


def test_change_password(client_for, people):
    client = client_for("annotator")
    done = client.post(
        reverse("password_change"),
        {
            "old_password": "pw-anna",
            "new_password1": "a-longer-pass-8",
            "new_password2": "a-longer-pass-8",
        },
    )
    assert done.status_code == 302
    people["annotator"].refresh_from_db()
    assert people["annotator"].check_password("a-longer-pass-8")
