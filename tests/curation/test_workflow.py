from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import InvalidInput, NotAllowed
from curation import answers, record_content, workflow
from curation.demo_data import TOOLS
from curation.models import Membership, Record, RecordEvent, Role, WorkInProgress
from tests.curation.annotate_fixtures import (
    call,
    draft,
    instruction_record,
    preference_record,
    tool_record,
)

S = Record.Status


@pytest.fixture
def shop(project):
    project.tools = TOOLS
    project.save()
    return project


@pytest.fixture
def ben(shop, make_user):
    user = make_user("ben")
    Membership.objects.create(project=shop, user=user, role=Role.ANNOTATOR)
    return user


def coupon_state(**arguments) -> dict:
    return {"mode": "tool", "tool": "issue_coupon", "arguments_json": json.dumps(arguments)}


def test_two_annotators_never_get_the_same_record(shop, people, ben):
    for i in range(4):
        tool_record(shop, text=f"请求 {i}")
    anna, bens = workflow.next_record(shop, people["annotator"]), workflow.next_record(shop, ben)
    assert anna.pk != bens.pk
    assert anna.status == bens.status == S.IN_PROGRESS
    assert Record.objects.get(pk=anna.pk).assignee == people["annotator"]


def test_next_record_resumes_the_open_claim(shop, people):
    tool_record(shop, text="a"), tool_record(shop, text="b")
    first = workflow.next_record(shop, people["annotator"])
    assert workflow.next_record(shop, people["annotator"]).pk == first.pk


def test_queue_is_empty_when_everything_is_taken(shop, people, ben):
    tool_record(shop)
    workflow.next_record(shop, ben)
    assert workflow.next_record(shop, people["annotator"]) is None


def test_records_with_a_model_draft_are_handed_out_first(shop, people, ben):
    """While a drafting job works through the pool, annotators correct its drafts rather
    than race it to the records it has not reached yet (skipped ones still come last)."""
    plain, drafted, later = (tool_record(shop, text=t) for t in ("a", "b", "c"))
    draft(later, text="好的")
    draft(drafted, text="好的")
    anna = people["annotator"]
    taken = workflow.next_record(shop, anna)
    assert taken.pk == drafted.pk
    workflow.skip_record(taken, anna)
    assert workflow.next_record(shop, anna).pk == later.pk
    assert workflow.next_record(shop, ben).pk == drafted.pk  # anna skipped it, not ben


def test_outsiders_get_no_records(shop, people):
    tool_record(shop)
    with pytest.raises(NotAllowed):
        workflow.next_record(shop, people["outsider"])


def test_a_skipped_record_comes_back_only_when_nothing_else_is_left(shop, people):
    first, second = tool_record(shop, text="a"), tool_record(shop, text="b")
    anna = people["annotator"]
    taken = workflow.next_record(shop, anna)
    assert taken.pk == first.pk
    workflow.skip_record(taken, anna)
    taken = workflow.next_record(shop, anna)
    assert taken.pk == second.pk
    workflow.skip_record(taken, anna)
    assert workflow.next_record(shop, anna).pk == first.pk


def test_stale_claims_go_back_to_the_pool_and_returned_work_to_its_annotator(shop, people):
    anna = people["annotator"]
    old = timezone.now() - shop.claim_timeout - timedelta(minutes=1)
    pooled = tool_record(shop, status=S.IN_PROGRESS, assignee=anna, claimed_at=old)
    returned = tool_record(
        shop, text="x", status=S.IN_PROGRESS, assignee=anna, claimed_at=old, review_comment="fix"
    )
    fresh = tool_record(
        shop, text="y", status=S.IN_PROGRESS, assignee=anna, claimed_at=timezone.now()
    )
    assert workflow.release_stale_claims(shop) == 2
    pooled.refresh_from_db(), returned.refresh_from_db(), fresh.refresh_from_db()
    assert (pooled.status, pooled.assignee) == (S.NEW, None)
    assert (returned.status, returned.assignee) == (S.RETURNED, anna)
    assert fresh.status == S.IN_PROGRESS


def test_autosave_keeps_the_state_and_the_claim_alive(shop, people):
    anna = people["annotator"]
    record = tool_record(shop)
    workflow.next_record(shop, anna)
    Record.objects.filter(pk=record.pk).update(claimed_at=timezone.now() - timedelta(minutes=20))
    record.refresh_from_db()
    workflow.autosave(record, anna, base_version=record.version, state=coupon_state(amount=3))
    wip = workflow.work_in_progress(record, anna)
    assert wip.data["state"]["tool"] == "issue_coupon"
    record.refresh_from_db()
    assert timezone.now() - record.claimed_at < timedelta(minutes=1)


def test_an_autosave_that_loses_the_race_to_a_submit_is_no_error(shop, people, monkeypatch):
    """Seen in the browser: the autosave timer's request in flight while Ctrl+Enter submits;
    the submit deleted the autosaved work between the autosave's read and its write (500)."""
    anna = people["annotator"]
    record = tool_record(shop)
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    workflow.autosave(record, anna, base_version=record.version, state=coupon_state(amount=3))
    kind_of = answers.editor_kind

    def submitted_meanwhile(r):
        WorkInProgress.objects.filter(record=r).delete()
        return kind_of(r)

    monkeypatch.setattr(workflow.answers, "editor_kind", submitted_meanwhile)
    workflow.autosave(record, anna, base_version=record.version, state=coupon_state(amount=4))
    assert workflow.work_in_progress(record, anna) is None


def test_save_bumps_the_version_and_records_before_and_after(shop, people):
    anna = people["annotator"]
    record = tool_record(shop, answer=call("issue_coupon", {"amount": 20, "quantity": 200}))
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    workflow.autosave(record, anna, base_version=1, state={})
    saved = workflow.save_record(
        record, anna, version=1, state=coupon_state(amount=30, threshold=200, quantity=200)
    )
    assert saved.version == 2
    assert saved.tool_name == "issue_coupon"
    event = saved.history_events.get(action="save")
    assert answers.label_of(event.data["before"])[1] == {"amount": 20, "quantity": 200}
    assert answers.label_of(event.data["after"])[1]["amount"] == 30
    assert not WorkInProgress.objects.filter(record=record).exists()


def test_saving_over_a_newer_version_is_refused_with_both_versions(shop, people):
    anna, rita = people["annotator"], people["reviewer"]
    record = tool_record(shop, answer=call("issue_coupon", {"amount": 20, "quantity": 200}))
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    workflow.save_record(record, rita, version=1, state=coupon_state(amount=50, quantity=200))
    with pytest.raises(workflow.EditConflict) as caught:
        workflow.save_record(record, anna, version=1, state=coupon_state(amount=30, quantity=200))
    conflict = caught.value
    assert conflict.status == 409
    assert conflict.theirs.version == 2 and conflict.theirs_by == "rita"
    assert "amount" in conflict.mine["messages"][-1]["tool_calls"][0]["function"]["arguments"]
    stored = Record.objects.get(pk=record.pk)
    assert answers.label_of(record_content.answer(stored))[1]["amount"] == 50


def test_an_annotator_cannot_edit_a_record_held_by_someone_else(shop, people, ben):
    record = tool_record(shop)
    workflow.next_record(shop, ben)
    with pytest.raises(NotAllowed):
        workflow.save_record(record, people["annotator"], version=1, state=coupon_state(amount=1))


def test_a_schema_error_blocks_submission_until_fixed(shop, people):
    anna = people["annotator"]
    record = tool_record(shop)
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    with pytest.raises(InvalidInput, match="quantity"):
        workflow.submit_record(record, anna, version=1, state=coupon_state(amount=30))
    record.refresh_from_db()
    assert record.status == S.IN_PROGRESS and record.version == 1
    submitted = workflow.submit_record(
        record, anna, version=1, state=coupon_state(amount=30, quantity=200)
    )
    assert submitted.status == S.SUBMITTED and submitted.submitted_by == anna
    event = submitted.history_events.get(action="submit")
    assert event.data["label"] == "issue_coupon"
    assert event.data["seconds"] is not None


def test_submission_stores_the_guideline_version_in_force(shop, people):
    shop.guidelines = "v1 text"
    shop.save()
    anna = people["annotator"]
    first, second = tool_record(shop, text="a"), tool_record(shop, text="b")
    workflow.next_record(shop, anna)
    first.refresh_from_db()
    done = workflow.submit_record(first, anna, version=1, state=coupon_state(amount=1, quantity=1))
    assert done.guideline_version == 1
    assert workflow.save_guidelines(shop, people["engineer"], text="v2 text").number == 2
    workflow.next_record(shop, anna)
    second.refresh_from_db()
    done = workflow.submit_record(second, anna, version=1, state=coupon_state(amount=1, quantity=1))
    assert done.guideline_version == 2


def test_only_engineers_edit_guidelines(shop, people):
    with pytest.raises(NotAllowed):
        workflow.save_guidelines(shop, people["reviewer"], text="x")


def test_sent_back_work_returns_first_to_its_annotator_with_the_comment(shop, people):
    anna, rita = people["annotator"], people["reviewer"]
    record, _other = tool_record(shop, text="a"), tool_record(shop, text="b")
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    record = workflow.submit_record(
        record, anna, version=1, state={"mode": "clarify", "content": "发多少张？"}
    )
    with pytest.raises(InvalidInput):
        workflow.send_back(record, rita, version=record.version, comment="  ")
    record = workflow.send_back(record, rita, version=record.version, comment="面额和张数都说了")
    assert (record.status, record.assignee) == (S.RETURNED, anna)
    again = workflow.next_record(shop, anna)
    assert again.pk == record.pk and again.review_comment == "面额和张数都说了"


def test_annotators_cannot_review(shop, people):
    record = tool_record(shop, status=S.SUBMITTED)
    with pytest.raises(NotAllowed):
        workflow.accept_record(record, people["annotator"], version=1)
    accepted = workflow.accept_record(record, people["reviewer"], version=1)
    assert accepted.status == S.ACCEPTED and accepted.reviewed_by == people["reviewer"]


def test_instruction_pairs_save_their_output_and_know_if_corrected(shop, people):
    anna = people["annotator"]
    record = instruction_record(shop)
    draft(record, text="The weather is good today.")
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    done = workflow.submit_record(
        record, anna, version=1, state={"output": "The weather is lovely today."}
    )
    assert done.output == "The weather is lovely today."
    assert done.history_events.get(action="submit").data["corrected"] is True


def test_marking_a_rejected_answer_makes_a_preference_pair(shop, people):
    anna = people["annotator"]
    record = tool_record(shop, text="你好", answer={"role": "assistant", "content": "你好！"})
    record.messages.append({"role": "user", "content": "介绍一下"})
    record.messages.append({"role": "assistant", "content": "好的"})
    record.save()
    draft(record, text="不想说")
    state = answers.state_from_record(record, record.drafts.all())
    assert answers.editor_kind(record) == answers.CONVERSATION
    assert [c["mark"] for c in state["candidates"]] == ["chosen", ""]
    state["candidates"][1]["mark"] = "rejected"
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    done = workflow.submit_record(record, anna, version=1, state=state)
    assert done.chosen == [{"role": "assistant", "content": "好的"}]
    assert done.rejected == [{"role": "assistant", "content": "不想说"}]
    assert done.messages[-1] == {"role": "user", "content": "介绍一下"}


def test_a_better_answer_replaces_the_chosen_one(shop, people):
    record = preference_record(shop)
    state = answers.state_from_record(record)
    state["new_answer"] = "定时发福袋，多互动。"
    content = answers.content_from_state(record, state)
    assert content["chosen"][0]["content"] == "定时发福袋，多互动。"
    assert content["rejected"][0]["content"] == "不知道。"


def test_two_chosen_answers_are_refused(shop):
    record = preference_record(shop)
    state = answers.state_from_record(record)
    state["candidates"][1]["mark"] = "chosen"
    with pytest.raises(InvalidInput, match="exactly one"):
        answers.content_from_state(record, state)


def test_round_robin_assignment_shares_records_evenly(shop, people, ben):
    ids = [tool_record(shop, text=str(i)).pk for i in range(5)]
    shares = workflow.assign_records(shop, people["engineer"], ids)
    assert shares == {"anna": 3, "ben": 2}
    assert Record.objects.filter(assignee=ben).count() == 2
    assert workflow.next_record(shop, ben).assignee == ben


def test_only_engineers_assign(shop, people):
    with pytest.raises(NotAllowed):
        workflow.assign_records(shop, people["reviewer"], [tool_record(shop).pk])


def test_moving_splits_leaves_exported_records_alone(shop, people):
    free, locked = tool_record(shop, text="a"), tool_record(shop, text="b", split_locked=True)
    result = workflow.move_split(shop, people["engineer"], [free.pk, locked.pk], split="test")
    assert result == {"moved": 1, "locked": 1}
    assert Record.objects.get(pk=locked.pk).split == ""


def test_bulk_tag_and_send_to_review(shop, people):
    ids = [tool_record(shop, text=str(i)).pk for i in range(3)]
    assert workflow.tag_records(shop, people["reviewer"], ids, tag="难例") == 3
    assert workflow.send_to_review(shop, people["reviewer"], ids[:2]) == 2
    assert Record.objects.filter(tags__name="难例").count() == 3
    assert Record.objects.filter(status=S.SUBMITTED).count() == 2
    assert RecordEvent.objects.filter(action="tag").count() == 3


def test_overlap_hands_submitted_records_to_a_second_annotator_blind(shop, people, ben):
    shop.annotation_overlap = 2
    shop.save()
    anna = people["annotator"]
    record = tool_record(shop)
    workflow.next_record(shop, anna)
    record.refresh_from_db()
    workflow.submit_record(record, anna, version=1, state=coupon_state(amount=30, quantity=200))
    record.refresh_from_db()
    second = workflow.next_record(shop, ben)
    assert second.pk == record.pk
    assert workflow.editor_mode(second, ben) == workflow.OVERLAP
    workflow.submit_record(
        second, ben, version=second.version, state=coupon_state(amount=3, quantity=2)
    )
    record.refresh_from_db()
    assert record.version == 2 and record.status == S.SUBMITTED
    assert RecordEvent.objects.get(action="annotate").data["arguments"] == {
        "amount": 3,
        "quantity": 2,
    }
    assert workflow.next_record(shop, ben) is None
