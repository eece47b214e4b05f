"""Near duplicates are found in Chinese text and kept apart from distinct records."""

import pytest

from curation.dedup import near_duplicates, shingles
from curation.formats.base import Row
from curation.models import Record
from curation.rows import row_to_record

pytestmark = pytest.mark.django_db


def add(project, *pairs):
    return Record.objects.bulk_create(
        [row_to_record(Row(instruction=q, input="", output=a), project) for q, a in pairs]
    )


def test_groups_chinese_records_that_differ_by_a_character(project):
    a, b, c = add(
        project,
        ("请帮我查询一下今天上海的天气情况,谢谢", "今天上海晴,气温二十度,适合出门散步。"),
        ("请帮我查询一下今天上海的天气情况,谢谢!", "今天上海晴,气温二十度,适合出门散步。"),
        ("推荐一本关于机器学习的入门书籍", "可以读周志华的《机器学习》。"),
    )
    groups = near_duplicates(project, threshold=0.8)
    assert [g.ids for g in groups] == [[a.pk, b.pk]]
    assert 0.8 <= groups[0].similarity <= 1.0
    assert "上海" in groups[0].previews[a.pk]


def test_a_higher_threshold_drops_looser_pairs(project):
    add(
        project,
        (
            "这款西湖龙井绿茶今天直播间还有货吗?我想买两盒送给家里的长辈",
            "有货,今天直播间下单包邮,明天一早就从杭州发货。",
        ),
        (
            "这款西湖龙井绿茶今天直播间还有货吗?我想买三盒留着自己慢慢喝",
            "有货,今天直播间下单包邮,明天一早就从杭州发货。",
        ),
    )
    assert near_duplicates(project, threshold=0.5)[0].similarity < 0.8
    assert not near_duplicates(project, threshold=0.95)


def test_shingles_are_character_ngrams():
    assert shingles("绿茶有货") == {"绿茶有".encode(), "茶有货".encode()}
