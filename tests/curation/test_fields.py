import pytest

from curation.models import Record

pytestmark = pytest.mark.django_db


def test_json_keeps_key_order_and_duplicate_free_text_on_every_database(project):
    tools = [{"type": "function", "function": {"parameters": {"z": 1, "a": 2}, "name": "查库存"}}]
    record = Record.objects.create(project=project, kind="conversation", tools=tools, messages=[])
    stored = Record.objects.get(pk=record.pk).tools
    assert stored == tools
    assert list(stored[0]["function"]) == ["parameters", "name"]
    assert list(stored[0]["function"]["parameters"]) == ["z", "a"]


def test_search_finds_chinese_inside_json_columns(project):
    from curation.record_queries import RecordFilter, filter_records

    Record.objects.create(
        project=project, kind="conversation", messages=[{"role": "user", "content": "发优惠券"}]
    )
    Record.objects.create(
        project=project, kind="conversation", messages=[{"role": "user", "content": "查库存"}]
    )
    assert filter_records(project, RecordFilter(q="优惠券")).count() == 1
