import pytest

from curation import workflow
from curation.demo_data import TOOLS
from curation.models import Record, Tag
from curation.record_queries import NO_TOOL, RecordFilter, filter_records, records_page
from tests.curation.annotate_fixtures import call, draft, instruction_record, tool_record


@pytest.fixture
def shop(project):
    project.tools = TOOLS
    project.save()
    return project


def pks(project, **params):
    return set(filter_records(project, RecordFilter(**params)).values_list("pk", flat=True))


def test_search_finds_chinese_in_messages_and_plain_fields(shop):
    coupon = tool_record(shop, text="发个满两百减30的优惠券")
    stock = tool_record(shop, text="这个还有货吗")
    pair = instruction_record(shop, instruction="翻译：优惠券")
    assert pks(shop, q="优惠券") == {coupon.pk, pair.pk}
    assert pks(shop, q="有货") == {stock.pk}


def test_search_is_case_insensitive_over_ascii(shop):
    record = tool_record(shop, text="List the White T-shirt")
    assert pks(shop, q="white t-SHIRT") == {record.pk}


def test_search_matches_tool_arguments(shop):
    record = tool_record(shop, answer=call("check_stock", {"product_name": "高腰牛仔裤"}))
    tool_record(shop, text="别的")
    assert pks(shop, q="牛仔裤") == {record.pk}


def test_filters_by_tool_status_split_and_assignee(shop, people):
    coupon = tool_record(shop, answer=call("issue_coupon", {"amount": 1, "quantity": 1}))
    coupon.tool_name = "issue_coupon"
    coupon.save()
    text = tool_record(shop, text="聊天", answer={"role": "assistant", "content": "好"})
    other = tool_record(shop, text="x", status=Record.Status.SUBMITTED, split="test")
    other.assignee = people["annotator"]
    other.save()
    assert pks(shop, tool="issue_coupon") == {coupon.pk}
    assert pks(shop, tool=NO_TOOL) == {text.pk, other.pk}
    assert pks(shop, status="submitted", split="test") == {other.pk}
    assert pks(shop, split="none") == {coupon.pk, text.pk}
    assert pks(shop, assignee=str(people["annotator"].pk)) == {other.pk}
    assert pks(shop, assignee="none") == {coupon.pk, text.pk}


def test_filters_by_tag_problems_draft_and_correction(shop, people):
    tagged, drafted, flawed = (tool_record(shop, text=str(i)) for i in range(3))
    tagged.tags.add(Tag.objects.create(project=shop, name="难例"))
    draft(drafted, text="好")
    Record.objects.filter(pk=flawed.pk).update(has_problems=True)
    assert pks(shop, tag="难例") == {tagged.pk}
    assert pks(shop, has_draft="yes") == {drafted.pk}
    assert pks(shop, has_draft="no") == {tagged.pk, flawed.pk}
    assert pks(shop, problems="yes") == {flawed.pk}
    anna = people["annotator"]
    claimed = workflow.next_record(shop, anna)
    assert claimed.pk == drafted.pk  # the queue hands out drafted records first
    workflow.submit_record(
        claimed, anna, version=claimed.version, state={"mode": "clarify", "content": "哪件商品？"}
    )
    assert pks(shop, corrected="yes") == {drafted.pk}
    assert drafted.pk not in pks(shop, corrected="no")


def test_pages_walk_by_keyset_and_cap_the_count(shop, monkeypatch):
    monkeypatch.setattr("curation.record_queries.COUNT_CAP", 5)
    made = [tool_record(shop, text=str(i)).pk for i in range(7)]
    first = records_page(shop, RecordFilter(), size=4)
    assert [r.pk for r in first.records] == sorted(made, reverse=True)[:4]
    assert first.count_label == "5+"
    second = records_page(shop, RecordFilter(), after=first.next_after, size=4)
    assert [r.pk for r in second.records] == sorted(made, reverse=True)[4:]
    assert second.next_after is None


def test_filter_params_round_trip():
    f = RecordFilter.from_params({"q": " 券 ", "status": "new", "junk": "x"})
    assert f.as_params() == {"q": "券", "status": "new"}
    assert RecordFilter().active is False
