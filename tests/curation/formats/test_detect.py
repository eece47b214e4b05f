import io
import json

import pytest

from curation.formats import FORMATS
from curation.formats.base import FormatError, Row
from curation.formats.detect import detect

SAMPLES = {
    "alpaca": Row(instruction="问", input="", output="答"),
    "alpaca_preference": Row(
        instruction="问",
        chosen=[{"role": "assistant", "content": "好"}],
        rejected=[{"role": "assistant", "content": "坏"}],
    ),
    "sharegpt": Row(
        kind="conversation",
        messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    ),
    "sharegpt_messages": Row(
        kind="conversation",
        messages=[
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "content": "r"},
        ],
    ),
    "openai_chat": Row(
        kind="conversation",
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "weight": 1},
        ],
    ),
    "trl_preference": None,
    "openai_dpo": None,
    "messages_preference": None,
    "template_text": Row(instruction="q", input="", output="a"),
}
PREFERENCE = Row(
    kind="conversation",
    messages=[{"role": "user", "content": "q"}],
    chosen=[{"role": "assistant", "content": "a"}],
    rejected=[{"role": "assistant", "content": "b"}],
)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_detects_each_formats_own_output(name):
    out = io.StringIO()
    FORMATS[name].write([SAMPLES[name] or PREFERENCE] * 3, out)
    found = detect(out.getvalue())
    assert found.name == name, found
    assert found.confidence >= 0.8 and found.reason


@pytest.mark.parametrize(
    ("file", "name", "reason"),
    [
        ("alpaca_zh_demo.json", "alpaca", '"instruction" and "output"'),
        ("glaive_toolcall_zh_demo.json", "sharegpt", '"conversations" of from/value turns'),
        ("dpo_zh_demo.json", "sharegpt", "with chosen/rejected"),
    ],
)
def test_detects_the_real_files_from_their_first_4kb(shared_data, file, name, reason):
    found = detect((shared_data / file).read_text(encoding="utf-8")[:4096])
    assert (found.name, found.confidence) == (name, 1.0) and reason in found.reason


def test_a_first_record_longer_than_the_sample_is_judged_by_its_keys():
    head = json.dumps([{"instruction": "x" * 10_000, "output": "y"}])[:2000]
    found = detect(head)
    assert (found.name, found.confidence) == ("alpaca", 0.25) and "cut off" in found.reason


def test_detects_csv_by_its_header():
    assert detect("instruction,input,output\nq,,a\n").name == "csv"
    assert detect("question,answer\nq,a\n").confidence == 0.5


def test_role_content_messages_without_tool_turns_say_what_else_they_could_be():
    found = detect('{"messages": [{"role": "user", "content": "q"}]}\n')
    assert found.name == "openai_chat" and "sharegpt_messages" in found.reason


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("", "^line 1: the file is empty"),
        (
            '{"question": "q", "answer": "a"}\n',
            "could not tell the format from the keys "
            '"question", "answer".*Fix: name the format: alpaca,',
        ),
        ("just some prose", "could not tell the format: the file starts 'just some prose'"),
    ],
)
def test_an_unknown_format_is_a_clear_error(head, message):
    with pytest.raises(FormatError, match=message):
        detect(head)
