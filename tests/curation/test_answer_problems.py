"""The editor's tool-call problems read in the annotator's language, with what and how to fix."""

import json

import pytest
from django.utils import translation

from curation.answers import answer_problems
from tests.curation.annotate_fixtures import call

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "create_coupon",
            "parameters": {
                "type": "object",
                "properties": {
                    "amount": {"type": "integer"},
                    "kind": {"enum": ["full_reduction", "discount"]},
                },
                "required": ["amount"],
            },
        },
    }
]


class Record:
    kind = "conversation"
    output = None
    chosen = None
    tools = TOOLS
    project = None

    def __init__(self, answer):
        self.messages = [{"role": "user", "content": "发个券"}, answer]


def problems(answer, language):
    with translation.override(language):
        return [(p.code, p.message, p.hint) for p in answer_problems(Record(answer), {})]


CASES = [
    (call("ship", {}), "unknown_tool", 'calls "ship", which is not one', "调用了“ship”"),
    (
        call("create_coupon", {"amount": "三十"}),
        "schema_violation",
        "Give it the type integer",
        "integer",
    ),
    (call("create_coupon", {}), "schema_violation", "Fill in the required argument", "必填"),
    (
        call("create_coupon", {"amount": 3, "kind": "x"}),
        "schema_violation",
        'Use one of "full_reduction", "discount"',
        '"full_reduction", "discount"',
    ),
]


@pytest.mark.parametrize("answer,code,english,chinese", CASES)
def test_problems_are_worded_in_the_annotators_language(answer, code, english, chinese):
    [(en_code, en_message, en_hint)] = problems(answer, "en")
    [(zh_code, zh_message, zh_hint)] = problems(answer, "zh-hans")
    assert en_code == zh_code == code
    assert english in en_message + " " + en_hint
    assert chinese in zh_message + zh_hint
    assert (zh_message, zh_hint) != (en_message, en_hint)


def test_arguments_that_are_not_an_object_name_their_kind_in_chinese():
    answer = call("create_coupon", {})
    answer["tool_calls"][0]["function"]["arguments"] = json.dumps([1, 2])
    [(code, message, _)] = problems(answer, "zh-hans")
    assert code == "arguments_not_object" and "数组" in message
