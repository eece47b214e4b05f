"""The whole annotation loop in a real browser, on a public file nobody on the team wrote
(LLaMA-Factory's glaive_toolcall_zh_demo.json, tools in the OpenAI shape once read):

engineer uploads it (preview, confirm, 300 rows read) → an annotator turns a text answer into
a tool call, a switch of answer mode that discards the text visibly and can be undone → a
reviewer sees every stored field of the answer in the diff and accepts → the engineer exports
sharegpt, and the file's tool rows carry their tools. No page logs a console error on the
way (Content-Security-Policy violations included)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from curation import answers
from curation.models import Record
from tests.curation.annotate_fixtures import call, tool_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = Record.Status

# Runs before any page script, outside the page's CSP: a violation becomes a console error.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    settings.EXPORT_DIR = tmp_path / "exports"


@pytest.fixture
def pages(new_page):
    """A page per person, each recording every console error and page error with its URL."""
    problems: list[str] = []

    def open_as(username: str):
        page = new_page()
        page.add_init_script(REPORT_VIOLATIONS)
        page.on(
            "console",
            lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
        page.goto("/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", f"pw-{username}")
        page.press("input[name=password]", "Enter")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    open_as.problems = problems
    return open_as


def test_upload_correct_review_export_on_the_glaive_file(project, people, pages, shared_data):
    slug = project.slug

    # --- the engineer uploads the file: a preview first, nothing written until confirmed.
    emil = pages("emil")
    emil.goto(f"/p/{slug}/data/import/")
    emil.set_input_files("input[type=file]", str(shared_data / "glaive_toolcall_zh_demo.json"))
    emil.get_by_role("button", name="Upload and preview").click()
    preview = emil.locator("#preview")
    expect(preview).to_contain_text("sharegpt")
    expect(preview.locator("code.call").first).to_contain_text("generate_invoice(")
    expect(preview).to_contain_text("result of generate_invoice")
    assert not Record.objects.exists()
    preview.get_by_role("button", name="Import").click()
    status = emil.locator("#import-status")
    expect(status).to_contain_text("Imported", timeout=60_000)
    read = status.locator(".stat", has_text="Rows read").locator(".n")
    expect(read).to_have_text("300")
    imported = project.records.count()
    assert imported > 250  # a few exact duplicates are skipped

    # A request the file answers in text although a tool of its own fits: the annotator
    # corrects it into a call of that tool.
    record = next(
        r
        for r in project.records.order_by("id")
        if answers.editor_kind(r) == answers.TOOL_CALL
        and any(t["function"]["name"] == "search_events" for t in r.tools or [])
    )
    key = str(1 + [t["function"]["name"] for t in record.tools].index("search_events"))
    text_before = record.messages[-1]["content"]
    assert "search_events" not in json.dumps(project.tools)  # the record's own tools are used

    # --- the annotator: text → tool call, undo, again; fills the form; submits.
    anna = pages("anna")
    anna.goto(f"/r/{record.pk}/")
    expect(anna.locator("#content")).to_have_value(text_before)
    anna.keyboard.press("Escape")
    anna.keyboard.press(key)  # search_events, one of the record's own tools
    note = anna.locator("#mode-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("The text answer was removed")
    expect(anna.locator(".text-answer")).to_be_hidden()
    anna.keyboard.press("Alt+z")  # undo: the text is back, the call gone
    expect(note).to_be_hidden()
    expect(anna.locator("#content")).to_have_value(text_before)
    anna.keyboard.press("Escape")
    anna.keyboard.press(key)
    expect(anna.locator("#arg-search_events-location")).to_be_focused()
    anna.keyboard.type("纽约")
    expect(anna.locator("#problems")).to_contain_text("Matches the tool")
    with anna.expect_response(lambda r: r.url.endswith(f"/r/{record.pk}/submit/")) as sent:
        anna.keyboard.press("Control+Enter")
    assert sent.value.ok
    record.refresh_from_db()
    assert record.status == S.SUBMITTED
    answer = record.messages[-1]
    assert answer["content"] is None  # the discarded text is not stored beside the call
    call = answer["tool_calls"][0]["function"]
    assert call["name"] == "search_events"
    assert json.loads(call["arguments"]) == {"location": "纽约"}
    assert record.tool_name == "search_events"

    # --- the reviewer sees each stored field against the imported answer, and accepts.
    rita = pages("rita")
    rita.goto(f"/r/{record.pk}/review/")
    table = rita.locator("table.args-diff")
    expect(table.locator("tr", has_text="tool")).to_contain_text("search_events")
    expect(table.locator("tr", has_text="location")).to_contain_text('"纽约"')
    expect(rita.locator("#text-diff del")).to_contain_text(text_before[:10])
    rita.keyboard.press("a")
    expect(rita.locator(".flash.ok, .messages")).to_contain_text(f"Accepted #{record.pk}")
    record.refresh_from_db()
    assert record.status == S.ACCEPTED

    # Writing a better answer on a conversation drops its chosen answer: said on screen.
    conversation = next(
        r for r in project.records.order_by("id") if answers.editor_kind(r) == answers.CONVERSATION
    )
    anna.goto(f"/r/{conversation.pk}/")
    expect(anna.locator("#chosen-dropped")).to_be_hidden()
    anna.locator("#new-answer").fill("好的。")
    expect(anna.locator("#chosen-dropped")).to_be_visible()
    expect(anna.locator(".candidate.dropping")).to_have_count(1)

    # Pages on the way: the records list (draft and updated columns), the history opened
    # directly, the annotator's queue.
    rita.goto(f"/p/{slug}/records/")
    expect(rita.locator("table.records")).to_contain_text("Updated")
    rita.goto(f"/r/{record.pk}/history/")
    expect(rita.locator("h2")).to_contain_text(f"History of #{record.pk}")
    anna.goto(f"/p/{slug}/queue/")
    expect(anna.locator("#take-next")).to_be_visible()

    # --- the engineer exports sharegpt with tools.
    emil.goto(f"/p/{slug}/data/export/")
    emil.select_option("select[name=format]", "sharegpt")
    emil.get_by_role("button", name="Export").click()
    expect(emil.locator("#export-result")).to_contain_text("written")
    links = emil.locator("#snapshots tbody tr").first.locator("a")
    rows = []
    for href in links.evaluate_all("els => els.map((e) => e.getAttribute('href'))"):
        if href.endswith(("manifest.json", "dataset_info.json")):
            continue
        body = emil.request.get(href).text()
        try:
            loaded = json.loads(body)
            rows += loaded if isinstance(loaded, list) else [loaded]
        except json.JSONDecodeError:
            rows += [json.loads(line) for line in body.splitlines() if line.strip()]
    # The one accepted record (in all.jsonl and in its split's file).
    assert rows and len({json.dumps(r, sort_keys=True) for r in rows}) == 1
    exported = rows[0]
    assert exported["conversations"][-1]["from"] == "function_call"
    assert json.loads(exported["conversations"][-1]["value"])["name"] == "search_events"
    assert "search_events" in [t["name"] for t in json.loads(exported["tools"])]

    assert pages.problems == []


def test_the_next_record_swapped_in_after_a_submit_breaks_no_policy(project, people, pages):
    """htmx settled a swap by copying the old element's style attribute (a grown textarea's
    height) onto its namesake in the new content: one CSP violation per textarea."""
    first, second = (tool_record(project, text=t) for t in ("在吗？", "今天发货吗？"))
    anna = pages("anna")
    anna.goto(f"/r/{first.pk}/")
    anna.keyboard.press("Escape")
    anna.keyboard.press("0")
    anna.keyboard.type("在的，请问有什么可以帮您？\n\n\n\n还有别的问题吗？")
    expect(anna.locator("#content")).to_have_attribute("style", re.compile("height"))
    anna.keyboard.press("Control+Enter")
    expect(anna.locator("#workspace")).to_contain_text("今天发货吗？")
    assert anna.url.endswith(f"/r/{second.pk}/")
    # The keys below go to the editor annotate.js sets up once htmx has settled the swap.
    expect(anna.locator('#workspace[data-ready="1"] h1')).to_have_text(f"#{second.pk}")
    anna.keyboard.press("Escape")
    anna.keyboard.press("0")
    anna.keyboard.type("今天下午发。")
    anna.keyboard.press("Control+Enter")
    expect(anna.locator("#workspace .empty")).to_be_visible()
    assert pages.problems == []


def test_a_reply_with_text_and_a_call_shows_both_and_stores_both_as_edited(project, people, pages):
    answer = {**call("check_stock", {"product": "T恤"}), "content": "我查一下"}
    record = tool_record(project, text="T恤还有货吗？", answer=answer)
    anna = pages("anna")
    anna.goto(f"/r/{record.pk}/")
    expect(anna.locator("#arg-check_stock-product")).to_have_value("T恤")
    text = anna.locator("#content")
    expect(text).to_be_visible()
    expect(text).to_have_value("我查一下")
    expect(anna.locator(".text-answer label")).to_have_text("Text sent with the tool call")
    text.fill("马上帮您查")
    with anna.expect_response(lambda r: r.url.endswith(f"/r/{record.pk}/submit/")) as sent:
        anna.keyboard.press("Control+Enter")
    assert sent.value.ok
    record.refresh_from_db()
    stored = record.messages[-1]
    assert stored["content"] == "马上帮您查"
    assert stored["tool_calls"][0]["function"]["name"] == "check_stock"
    assert pages.problems == []


def test_after_a_send_back_the_next_record_does_not_keep_the_comment_focused(
    project, people, pages
):
    """htmx puts the focus back on the element with the same id after a swap: the next
    record's comment box held it, and "a" typed an a instead of accepting."""
    answer = call("check_stock", {"product": "T恤"})
    first, second = (
        tool_record(
            project, text=t, answer=answer, status=S.SUBMITTED, submitted_by=people["annotator"]
        )
        for t in ("T恤还有吗？", "裤子还有吗？")
    )
    rita = pages("rita")
    rita.goto(f"/r/{first.pk}/review/")
    rita.keyboard.press("b")
    expect(rita.locator("#comment")).to_be_focused()
    rita.keyboard.type("商品名写错了")
    rita.keyboard.press("Control+Enter")
    expect(rita.locator("#review")).to_have_attribute("data-record", str(second.pk))
    expect(rita.locator("#review")).to_have_attribute("data-ready", "1")
    expect(rita.locator("#comment")).not_to_be_focused()
    rita.keyboard.press("a")
    expect(rita.locator(".messages")).to_contain_text(f"Accepted #{second.pk}")
    second.refresh_from_db()
    assert second.status == S.ACCEPTED and not second.review_comment
    assert pages.problems == []
