"""The annotation workspace in a real browser: keyboard-only work, schema errors, preference
marks, review round trips, edit conflicts, and the same in zh-hans."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from curation import workflow
from curation.demo_data import GUIDELINES, TOOLS
from curation.models import Record, WorkInProgress
from tests.curation.annotate_fixtures import call, draft, instruction_record, tool_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = Record.Status


@pytest.fixture
def shop(project):
    project.tools = TOOLS
    project.guidelines = GUIDELINES
    project.save()
    return project


def log_in(page, username: str) -> None:
    """Keyboard only: the username field has focus on arrival."""
    page.goto("/login/")
    # Chromium applies autofocus at its next rendering update, which may come after "load".
    expect(page.locator("input[name=username]")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(f"pw-{username}")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_keyboard_only_correction_and_submit(shop, people, new_page, screenshot):
    record = instruction_record(shop, instruction="把这句话翻译成英文")
    draft(record, text="The weather is good today.")
    following = instruction_record(shop, instruction="第二条")
    page = new_page()
    log_in(page, "anna")
    page.goto(f"/p/{shop.slug}/queue/")
    page.keyboard.press("n")
    page.wait_for_url(f"**/r/{record.pk}/")
    assert focused_id(page) == "answer"  # focus lands where typing starts
    page.keyboard.press("Alt+a")  # accept the draft
    expect(page.locator("#answer")).to_have_value("The weather is good today.")
    for _ in range(len("good today.")):
        page.keyboard.press("Backspace")
    page.keyboard.type("lovely today.")
    expect(page.locator("#live-diff ins")).to_have_text("lovely")
    expect(page.locator("#live-diff del")).to_have_text("good")
    expect(page.locator("#autosave-status")).to_contain_text("Autosaved")
    screenshot(page, "editor-instruction")
    page.keyboard.press("Escape")  # leave the text field: single-key shortcuts work
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    screenshot(page, "shortcuts")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#workspace .text.big")).to_have_text("第二条")
    assert page.url.endswith(f"/r/{following.pk}/")
    record.refresh_from_db()
    assert record.status == S.SUBMITTED and record.output == "The weather is lovely today."


def test_the_generated_tool_form_blocks_a_schema_error_until_fixed(
    shop, people, new_page, screenshot
):
    record = tool_record(shop, text="发个满两百减30的券，放200张")
    draft(
        record,
        tool_calls=[{"function": {"name": "issue_coupon", "arguments": '{"amount": 20}'}}],
    )
    page = new_page()
    log_in(page, "anna")
    page.goto(f"/p/{shop.slug}/queue/")
    page.keyboard.press("n")
    page.wait_for_url(f"**/r/{record.pk}/")
    page.keyboard.press("3")  # issue_coupon is the third tool
    expect(page.locator('fieldset[data-tool="issue_coupon"]')).to_be_visible()
    assert focused_id(page) == "arg-issue_coupon-amount"  # first required, empty field
    page.keyboard.type("30")
    page.keyboard.press("Tab")
    page.keyboard.type("200")  # threshold
    expect(page.locator("#arguments-json")).to_have_value(
        json.dumps({"amount": 30, "threshold": 200}, indent=2)
    )
    expect(page.locator("#problems")).to_contain_text("quantity")  # live validation
    page.keyboard.press("Control+Enter")
    expect(page.locator("#notice .problem")).to_contain_text("quantity")
    screenshot(page, "editor-tool-call")
    record.refresh_from_db()
    assert record.status == S.IN_PROGRESS
    # Power users edit the raw JSON; the form follows.
    raw = page.locator("#arguments-json")
    raw.fill('{"amount": 30, "threshold": 200, "quantity": 200}')
    expect(page.locator("#arg-issue_coupon-quantity")).to_have_value("200")
    expect(page.locator("#problems")).to_contain_text("Matches")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#workspace .empty")).to_be_visible()
    record.refresh_from_db()
    assert record.status == S.SUBMITTED
    arguments = record.messages[-1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"amount": 30, "threshold": 200, "quantity": 200}


def test_picking_chosen_and_rejected_in_a_conversation(shop, people, new_page, screenshot):
    record = tool_record(shop, text="你好", answer={"role": "assistant", "content": "你好！"})
    record.messages += [
        {"role": "user", "content": "我的优惠券怎么用不了？"},
        {"role": "assistant", "content": "满两百才能用哦，凑个单试试～"},
    ]
    record.save()
    draft(record, text="不知道。")
    draft(record, text="请联系客服。", model="base")
    page = new_page()
    log_in(page, "anna")
    page.goto(f"/p/{shop.slug}/queue/")
    page.keyboard.press("n")
    page.wait_for_url(f"**/r/{record.pk}/")
    first = page.locator(".candidate").nth(0)
    expect(first).to_be_focused()
    expect(first).to_have_class(re.compile("mark-chosen"))
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator(".candidate").nth(1)).to_have_class(re.compile("mark-rejected"))
    screenshot(page, "editor-conversation")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#workspace .empty")).to_be_visible()
    record.refresh_from_db()
    assert record.chosen == [{"role": "assistant", "content": "满两百才能用哦，凑个单试试～"}]
    assert record.rejected[0]["content"] in ("不知道。", "请联系客服。")
    assert record.messages[-1]["content"] == "我的优惠券怎么用不了？"


def test_a_reviewer_sends_back_and_the_annotator_sees_the_comment(
    shop, people, new_page, screenshot
):
    record = tool_record(shop, answer=call("issue_coupon", {"amount": 20, "quantity": 200}))
    workflow.next_record(shop, people["annotator"])
    record.refresh_from_db()
    workflow.submit_record(
        record,
        people["annotator"],
        version=1,
        state={
            "mode": "tool",
            "tool": "issue_coupon",
            "arguments_json": '{"amount": 30, "quantity": 20}',
        },
    )
    reviewer = new_page()
    log_in(reviewer, "rita")
    reviewer.goto(f"/p/{shop.slug}/review/")
    reviewer.keyboard.press("n")
    reviewer.wait_for_url(f"**/r/{record.pk}/review/")
    expect(reviewer.locator("tr.change-changed")).to_have_count(2)  # amount and quantity
    reviewer.keyboard.press("b")
    expect(reviewer.locator("#comment")).to_be_focused()
    reviewer.keyboard.type("张数是200，不是20")
    screenshot(reviewer, "review")
    reviewer.keyboard.press("Control+Enter")
    reviewer.wait_for_url(f"**/p/{shop.slug}/review/")
    record.refresh_from_db()
    assert record.status == S.RETURNED and record.assignee == people["annotator"]

    annotator = new_page()
    log_in(annotator, "anna")
    annotator.goto(f"/p/{shop.slug}/queue/")
    expect(annotator.locator(".returned .comment-text")).to_have_text("张数是200，不是20")
    annotator.keyboard.press("n")
    annotator.wait_for_url(f"**/r/{record.pk}/")
    expect(annotator.locator("#notice .review-comment")).to_contain_text("张数是200，不是20")


def test_two_contexts_editing_one_record_end_in_a_conflict_not_a_lost_edit(
    shop, people, new_page, screenshot
):
    record = instruction_record(shop, output="The weather is good today.")
    anna, rita = new_page(), new_page()
    log_in(anna, "anna")
    anna.goto(f"/p/{shop.slug}/queue/")
    anna.keyboard.press("n")
    anna.wait_for_url(f"**/r/{record.pk}/")
    log_in(rita, "rita")
    rita.goto(f"/r/{record.pk}/")
    for page, text in ((anna, "Anna's weather is fine."), (rita, "Rita's weather is great.")):
        page.locator("#answer").fill(text)
    rita.keyboard.press("Control+s")
    expect(rita.locator("#notice")).to_contain_text("version 2")
    anna.keyboard.press("Control+s")
    conflict = anna.locator("#notice .conflict")
    expect(conflict).to_contain_text("rita")
    expect(conflict.locator("pre.mine")).to_have_text("Anna's weather is fine.")
    expect(conflict.locator("pre.theirs")).to_have_text("Rita's weather is great.")
    expect(anna.locator("#answer")).to_have_value("Anna's weather is fine.")
    screenshot(anna, "conflict")
    record.refresh_from_db()
    assert record.output == "Rita's weather is great."
    assert WorkInProgress.objects.get(record=record, user=people["annotator"]).data["state"] == {
        "output": "Anna's weather is fine."
    }
    conflict.get_by_role("button", name="Keep mine on top of theirs").click()
    expect(anna.locator("#notice")).to_contain_text("version 3")
    record.refresh_from_db()
    assert record.output == "Anna's weather is fine." and record.version == 3


def test_the_same_flow_in_chinese(shop, people, new_page, screenshot):
    record = instruction_record(shop, instruction="用一句话介绍这款冰丝防晒衣", output="")
    draft(record, text="这款防晒衣很凉快。")
    page = new_page(width=1280, height=860)
    log_in(page, "anna")
    page.select_option("#language", "zh-hans")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.goto(f"/p/{shop.slug}/queue/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.keyboard.press("n")
    page.wait_for_url(f"**/r/{record.pk}/")
    assert focused_id(page) == "answer"
    page.keyboard.press("Alt+a")
    page.keyboard.press("End")
    page.keyboard.press("Backspace")
    page.keyboard.type("，冰丝面料，透气防晒。")
    # The diff is by character: the old full stop is kept, the new clause goes before it.
    expect(page.locator("#live-diff ins")).to_have_text("，冰丝面料，透气防晒")
    expect(page.locator("#live-diff del")).to_have_count(0)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    screenshot(page, "editor-zh-hans")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#workspace .empty")).to_be_visible()
    record.refresh_from_db()
    assert record.output == "这款防晒衣很凉快，冰丝面料，透气防晒。"
    assert record.status == S.SUBMITTED
