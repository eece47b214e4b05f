from __future__ import annotations

import json
from html import unescape

import pytest
from django.urls import reverse

from curation import workflow
from curation.demo_data import TOOLS
from curation.models import GuidelineVersion, Membership, Record, RecordEvent, Role, WorkInProgress
from tests.curation.annotate_fixtures import (
    call,
    draft,
    instruction_record,
    preference_record,
    tool_record,
)

S = Record.Status
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def shop(project):
    project.tools = TOOLS
    project.guidelines = "# 指南\n\n发券要写**面额**。<script>alert(1)</script>"
    project.save()
    return project


@pytest.fixture
def claimed(shop, people):
    record = tool_record(shop)
    draft(
        record,
        tool_calls=[
            {"function": {"name": "issue_coupon", "arguments": {"amount": 20, "quantity": 200}}}
        ],
    )
    workflow.next_record(shop, people["annotator"])
    record.refresh_from_db()
    return record


def coupon(**arguments) -> dict:
    return {"choice": "tool:issue_coupon", "arguments_json": json.dumps(arguments)}


@pytest.mark.parametrize(
    "name", ["annotate_queue", "review_queue", "records", "dashboard", "guidelines"]
)
def test_outsiders_get_404_on_every_project_page(shop, client_for, name):
    assert (
        client_for("outsider").get(reverse(f"curation:{name}", args=[shop.slug])).status_code == 404
    )


@pytest.mark.parametrize("name", ["review_queue", "records", "dashboard"])
def test_annotators_cannot_open_reviewer_pages(shop, client_for, name):
    assert (
        client_for("annotator").get(reverse(f"curation:{name}", args=[shop.slug])).status_code
        == 403
    )


def test_outsiders_get_404_on_records(shop, claimed, client_for):
    client = client_for("outsider")
    assert client.get(reverse("curation:record_edit", args=[claimed.pk])).status_code == 404
    assert client.post(reverse("curation:record_save", args=[claimed.pk])).status_code == 404


def test_annotators_cannot_review(shop, client_for):
    record = tool_record(shop, status=S.SUBMITTED)
    client = client_for("annotator")
    assert client.get(reverse("curation:review_record", args=[record.pk])).status_code == 403
    response = client.post(reverse("curation:review_accept", args=[record.pk]), {"version": 1})
    assert response.status_code == 403


def test_next_takes_a_record_and_opens_its_editor(shop, client_for):
    record = tool_record(shop)
    response = client_for("annotator").post(reverse("curation:annotate_next", args=[shop.slug]))
    assert response.url == reverse("curation:record_edit", args=[record.pk])
    page = client_for("annotator").get(response.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "issue_coupon" in html and 'data-kind="tool_call"' in html
    assert "product_name" in html and 'class="req"' in html  # schema fields with required marks


def test_each_kind_gets_its_editor(shop, people, client_for):
    client = client_for("engineer")
    pair = instruction_record(shop)
    draft(pair, text="The weather is nice.")
    pref = preference_record(shop)
    for record, kind, marker in [
        (pair, "instruction", "The weather is nice."),
        (pref, "conversation", "不知道。"),
    ]:
        html = client.get(reverse("curation:record_edit", args=[record.pk])).content.decode()
        assert f'data-kind="{kind}"' in html and marker in html


def test_guidelines_are_rendered_as_safe_markdown(shop, client_for, claimed):
    html = client_for("annotator").get(reverse("curation:record_edit", args=[claimed.pk]))
    html = html.content.decode()
    assert "<strong>面额</strong>" in html
    assert "<script>alert" not in html


def test_autosave_keeps_the_form_and_restores_it(shop, claimed, client_for):
    client = client_for("annotator")
    response = client.post(
        reverse("curation:record_autosave", args=[claimed.pk]),
        {"version": 1, **coupon(amount=30)},
    )
    assert response.status_code == 200 and "saved_at" in response.json()
    html = client.get(reverse("curation:record_edit", args=[claimed.pk])).content.decode()
    assert "Restored your unsaved work" in html and "&quot;amount&quot;: 30" in html


def test_autosave_is_refused_on_someone_elses_record(shop, claimed, people, client):
    ben = people["outsider"]
    Membership.objects.create(project=shop, user=ben, role=Role.ANNOTATOR)
    client.force_login(ben)
    response = client.post(
        reverse("curation:record_autosave", args=[claimed.pk]), {"version": 1, **coupon(amount=1)}
    )
    assert response.status_code == 403
    assert not WorkInProgress.objects.filter(user=ben).exists()


def test_live_check_reports_schema_errors(shop, claimed, client_for):
    url = reverse("curation:record_check", args=[claimed.pk])
    bad = client_for("annotator").post(url, {"version": 1, **coupon(amount=30)}, **HTMX)
    assert "quantity" in bad.content.decode()
    good = client_for("annotator").post(
        url, {"version": 1, **coupon(amount=30, quantity=5)}, **HTMX
    )
    assert "Matches the tool" in good.content.decode()
    text = client_for("annotator").post(url, {"version": 1, "choice": "text", "content": "好的"})
    assert text.status_code == 200 and "Matches the tool" not in text.content.decode()


def test_submit_with_a_schema_error_is_refused_in_place(shop, claimed, client_for):
    response = client_for("annotator").post(
        reverse("curation:record_submit", args=[claimed.pk]),
        {"version": 1, **coupon(amount="三十", quantity=5)},
        **HTMX,
    )
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#notice"
    assert Record.objects.get(pk=claimed.pk).status == S.IN_PROGRESS


def test_submit_swaps_in_the_next_record(shop, claimed, client_for):
    nxt = tool_record(shop, text="下一个")
    response = client_for("annotator").post(
        reverse("curation:record_submit", args=[claimed.pk]),
        {"version": 1, **coupon(amount=30, threshold=200, quantity=200)},
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Push-Url"] == reverse("curation:record_edit", args=[nxt.pk])
    assert "下一个" in response.content.decode()
    assert Record.objects.get(pk=claimed.pk).status == S.SUBMITTED


def test_a_stale_save_shows_both_versions_and_keeps_mine(shop, claimed, people, client_for):
    workflow.save_record(
        claimed,
        people["reviewer"],
        version=1,
        state={
            "mode": "tool",
            "tool": "issue_coupon",
            "arguments_json": '{"amount": 99, "quantity": 1}',
        },
    )
    response = client_for("annotator").post(
        reverse("curation:record_save", args=[claimed.pk]),
        {"version": 1, **coupon(amount=30, quantity=200)},
        **HTMX,
    )
    html = unescape(response.content.decode())
    assert response.status_code == 409
    assert '"amount": 30' in html and '"amount": 99' in html and "rita" in html
    wip = WorkInProgress.objects.get(record=claimed, user=people["annotator"])
    assert json.loads(wip.data["state"]["arguments_json"])["amount"] == 30


def test_reviewer_sends_back_and_the_annotator_sees_the_comment(shop, claimed, people, client_for):
    workflow.submit_record(
        claimed, people["annotator"], version=1, state={"mode": "clarify", "content": "几张？"}
    )
    reviewer = client_for("reviewer")
    page = reviewer.get(reverse("curation:review_record", args=[claimed.pk])).content.decode()
    assert "<del>" in page or "<ins>" in page
    empty = reviewer.post(
        reverse("curation:review_send_back", args=[claimed.pk]), {"version": 2, "comment": ""}
    )
    assert empty.status_code == 400
    reviewer.post(
        reverse("curation:review_send_back", args=[claimed.pk]),
        {"version": 2, "comment": "张数已经说了：200张"},
    )
    queue = client_for("annotator").get(reverse("curation:annotate_queue", args=[shop.slug]))
    assert "张数已经说了：200张" in queue.content.decode()


def test_review_shows_tool_arguments_field_by_field(shop, claimed, people, client_for):
    workflow.submit_record(
        claimed,
        people["annotator"],
        version=1,
        state=coupon(amount=30, quantity=200) | {"mode": "tool", "tool": "issue_coupon"},
    )
    html = client_for("reviewer").get(reverse("curation:review_record", args=[claimed.pk]))
    html = html.content.decode()
    assert 'class="change-changed"' in html  # amount 20 -> 30
    assert 'class="change-same"' in html  # quantity 200 both


def test_review_shows_the_text_beside_a_call_and_calls_and_results_in_the_prompt(
    shop, people, client_for
):
    """Every stored field is in front of the reviewer: the text a reply carries beside its
    tool call (under the argument table), and the conversation's earlier calls and results
    as calls and results, not a Python repr of the JSON."""
    checked = call("check_stock", {"product": "T恤"})
    checked["tool_calls"][0]["id"] = "call_9"
    record = Record(
        project=shop,
        kind="conversation",
        status=S.SUBMITTED,
        messages=[
            {"role": "user", "content": "T恤还有吗？"},
            checked,
            {"role": "tool", "tool_call_id": "call_9", "content": '{"stock": 0}'},
            {"role": "user", "content": "那发张券吧"},
            {**call("issue_coupon", {"amount": 20, "quantity": 100}), "content": "好的，发券"},
        ],
    )
    record.save()
    html = client_for("reviewer").get(reverse("curation:review_record", args=[record.pk]))
    html = html.content.decode()
    assert "result of check_stock" in html and "&quot;stock&quot;: 0" in html
    assert "<code>check_stock</code>" in html and "[{&#x27;" not in html
    assert 'id="text-diff"' in html and "好的，发券" in html
    assert 'class="change-same"' in html  # the imported call, unchanged: amount and quantity


def test_review_of_a_reply_with_two_calls_shows_the_second_one_too(shop, people, client_for):
    first = call("check_stock", {"product": "T恤"})
    second = call("check_stock", {"product": "裤子"})["tool_calls"][0]
    record = tool_record(shop, text="T恤和裤子还有吗？", answer=first, status=S.SUBMITTED)
    record.messages[-1]["tool_calls"].append(second)
    record.save()
    html = client_for("reviewer").get(reverse("curation:review_record", args=[record.pk]))
    html = html.content.decode()
    assert "every call" in html and "裤子" in html


def test_records_list_filters_and_pages(shop, client_for):
    tool_record(shop, text="发优惠券")
    tool_record(shop, text="查库存")
    html = (
        client_for("reviewer")
        .get(reverse("curation:records", args=[shop.slug]), {"q": "库存"})
        .content.decode()
    )
    assert "查库存" in html and "发优惠券" not in html


def test_records_list_says_which_records_have_a_draft_and_when_each_changed(shop, client_for):
    drafted, plain = tool_record(shop, text="发优惠券"), tool_record(shop, text="查库存")
    draft(drafted, text="好的")
    page = client_for("reviewer").get(reverse("curation:records", args=[shop.slug]))
    rows = {r.pk: r for r in page.context["page"].records}
    assert rows[drafted.pk].has_draft and not rows[plain.pk].has_draft
    html = page.content.decode()
    assert "<th>Draft</th><th>Updated</th>" in html
    assert html.count('<span class="badge" title="A model draft') == 1
    assert plain.updated_at.strftime("%Y-%m-%d") in html


def test_bulk_actions_respect_roles(shop, people, client_for):
    ids = [tool_record(shop, text=str(i)).pk for i in range(2)]
    url = reverse("curation:records_bulk", args=[shop.slug])
    client_for("reviewer").post(url, {"ids": ids, "action": "assign"})
    assert not Record.objects.filter(assignee__isnull=False).exists()
    client_for("engineer").post(url, {"ids": ids, "action": "assign", "assignee": ""})
    assert Record.objects.filter(assignee=people["annotator"]).count() == 2


def test_dashboard_shows_throughput_and_agreement(shop, people, client_for):
    shop.annotation_overlap = 2
    shop.save()
    record = tool_record(shop)
    workflow.next_record(shop, people["annotator"])
    record.refresh_from_db()
    workflow.submit_record(
        record, people["annotator"], version=1, state={"mode": "clarify", "content": "?"}
    )
    # The reviewer annotates too (roles rank: a reviewer can annotate).
    record = workflow.next_record(shop, people["reviewer"])
    workflow.submit_record(
        record,
        people["reviewer"],
        version=record.version,
        state={"mode": "clarify", "content": "？"},
    )
    html = (
        client_for("reviewer").get(reverse("curation:dashboard", args=[shop.slug])).content.decode()
    )
    assert "anna" in html and "Fleiss" in html
    assert RecordEvent.objects.filter(action__in=("submit", "annotate")).count() == 2


def test_engineers_version_the_guidelines(shop, client_for):
    url = reverse("curation:guidelines", args=[shop.slug])
    assert client_for("annotator").post(url, {"text": "x"}).status_code == 403
    client_for("engineer").post(url, {"text": "## 新版"})
    assert GuidelineVersion.objects.filter(project=shop).first().text == "## 新版"


def test_history_lists_who_did_what(shop, claimed, client_for):
    html = client_for("annotator").get(reverse("curation:record_history", args=[claimed.pk]))
    assert "claim" in html.content.decode() and "anna" in html.content.decode()


def test_history_opened_directly_is_a_whole_page(shop, claimed, client_for):
    client = client_for("annotator")
    url = reverse("curation:record_history", args=[claimed.pk])
    page = client.get(url).content.decode()
    assert "<html" in page and "css/annotate.css" in page and "anna" in page
    assert "{#" not in page and "{%" not in page  # no template comment leaks into the page
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'data-action="close-history"' in fragment
