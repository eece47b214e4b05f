"""Setting a project up in the browser: an engineer creates a project from the glaive demo
file (tools proposed and accepted), invites an annotator and a reviewer, edits a tool's
schema and sees the test form and the invalid-records warning change as they type; the
annotator then works the project's queue. Annotators get 403 on the setup pages, outsiders
404, and no page logs a console error (strict CSP)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from curation.models import Project, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def watched(new_page):
    """A page and the list of every console error and page error it meets."""
    page = new_page()
    page.add_init_script(REPORT_VIOLATIONS)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    return page, problems


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


def log_out(page) -> None:
    page.goto("/")
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")


def test_an_engineer_sets_a_project_up_and_the_annotator_gets_to_work(
    people, shared_data, watched, screenshot
):
    page, problems = watched
    log_in(page, "emil")

    # New project, from the glaive file: format detected, tools proposed, nothing written yet.
    page.get_by_role("link", name="New project").click()
    page.fill("input[name=name]", "发票助手")
    page.set_input_files("input[name=file]", str(shared_data / "glaive_toolcall_zh_demo.json"))
    page.get_by_role("button", name="Read the file and propose settings").click()
    expect(page.locator("#from-file")).to_contain_text("sharegpt")
    tools = page.locator("#proposed-tools")
    expect(tools).to_contain_text("generate_invoice")
    expect(page.locator("select[name=task_kind]")).to_have_value("tool_calling")
    assert not Project.objects.filter(name="发票助手").exists()
    screenshot(page, "setup-new-project")
    page.fill("input[name=slug]", "invoices")
    page.check("input[name=use_project_tools]")
    page.get_by_role("button", name="Create the project and import the file").click()
    page.wait_for_url("**/p/invoices/members/")
    project = Project.objects.get(slug="invoices")
    assert "generate_invoice" in project.tool_names
    imported = project.records.count()  # the file's 300 rows less exact duplicates
    assert imported > 250
    expect(page.locator(".messages")).to_contain_text(f"{imported} records imported")

    # Members: an annotator by username, a reviewer by e-mail address.
    people["reviewer"].email = "rita@example.com"
    people["reviewer"].save()
    for who, role in (("anna", "annotator"), ("rita@example.com", "reviewer")):
        page.fill("#add-member input[name=user]", who)
        page.select_option("#add-member select[name=role]", role)
        page.get_by_role("button", name="Add", exact=True).click()
        page.wait_for_url("**/p/invoices/members/")
    expect(page.locator("#members")).to_contain_text("anna")
    expect(page.locator("#members")).to_contain_text("rita")
    assert project.role_of(people["annotator"]) == Role.ANNOTATOR
    assert project.role_of(people["reviewer"]) == Role.REVIEWER
    screenshot(page, "setup-members")

    # The tools editor: a new required enum argument shows in the annotators' form and the
    # warning lists the records that would no longer validate.
    page.goto("/p/invoices/settings/tools/")
    index = project.tool_names.index("generate_invoice")
    card = page.locator(f"#tool-{index}")
    expect(card.locator("#arg-generate_invoice-customer_name")).to_be_visible()
    schema = project.tools[index]["function"]["parameters"]
    schema = {
        **schema,
        "properties": {
            **schema["properties"],
            "currency": {"type": "string", "enum": ["CNY", "USD"]},
        },
        "required": [*schema["required"], "currency"],
    }
    card.locator(f"textarea[name=parameters-{index}]").fill(json.dumps(schema, ensure_ascii=False))
    expect(card.locator("#arg-generate_invoice-currency option[value=USD]")).to_be_attached()
    expect(card.locator(".warning")).to_contain_text("invalid")
    card.scroll_into_view_if_needed()
    screenshot(page, "setup-tools")
    card.locator(f"textarea[name=parameters-{index}]").fill('{"type": "object", "properties": ')
    expect(card.locator(".field-error")).to_contain_text("JSON")

    # Settings: the rendering of a real record follows the system prompt as it is typed.
    page.goto("/p/invoices/settings/")
    page.fill("textarea[name=system_prompt]", "你是开发票的助手。")
    expect(page.locator("#rendering")).to_contain_text("你是开发票的助手。")
    screenshot(page, "setup-settings")
    log_out(page)

    # The annotator sees the project and its queue, and none of the setup pages.
    log_in(page, "anna")
    expect(page.get_by_role("link", name="发票助手")).to_be_visible()
    page.get_by_role("link", name="发票助手").click()
    page.get_by_role("link", name="My queue").click()
    page.wait_for_url("**/p/invoices/queue/")
    for path in ("settings/", "settings/tools/", "members/"):
        assert page.goto(f"/p/invoices/{path}").status == 403
    assert page.goto("/projects/new/").status == 403
    log_out(page)
    log_in(page, "otto")
    for path in ("settings/", "settings/tools/", "members/", "queue/"):
        assert page.goto(f"/p/invoices/{path}").status == 404
    # The error pages themselves log "Failed to load resource" for their status; nothing else.
    real = [p for p in problems if "Failed to load resource" not in p]
    assert not real, "\n".join(real)
