import io
import json

import pytest

from curation.formats import alpaca, sharegpt, template_text
from curation.formats.base import FormatError, Row
from curation.formats.jsonio import open_text


def texts(rows, **options) -> list[str]:
    out = io.StringIO()
    template_text.write(rows, out, **options)
    return [json.loads(line)["text"] for line in out.getvalue().splitlines()]


def test_renders_the_seed_layout_with_and_without_a_system_prompt():
    rows = [
        Row(system="你是助手", instruction="问", input="", output="答"),
        Row(instruction="问", input="上下文", output="答"),
    ]
    assert texts(rows) == [
        "你是助手\n### instruction\n问\n### input\n\n### response\n答",
        "### instruction\n问\n### input\n上下文\n### response\n答",
    ]


def test_renders_every_alpaca_demo_row(shared_data):
    with open_text(shared_data / "alpaca_zh_demo.json") as f:
        rows = list(alpaca.read(f))
    rendered = texts(rows)
    assert len(rendered) == 1000
    one = rows[1]
    assert rendered[1] == (
        f"### instruction\n{one.instruction}\n### input\n{one.input}\n### response\n{one.output}"
    )


def test_flattens_a_tool_conversation_around_its_last_user_turn(shared_data):
    with open_text(shared_data / "glaive_toolcall_zh_demo.json") as f:
        row = next(sharegpt.read(f))
    [text] = texts([row], template="{instruction}|{input}|{response}|{tools}")
    instruction, context, response, tools = text.split("|", 3)
    assert instruction == row.messages[0]["content"] and context == ""
    call, result, answer = response.split("\n")
    assert json.loads(call)["name"] == "generate_invoice"
    assert result.startswith("tool: {") and answer == row.messages[-1]["content"]
    assert json.loads(tools)[0]["function"]["name"] == "generate_invoice"


def test_earlier_turns_become_the_input_transcript():
    row = Row(
        kind="conversation",
        messages=[
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "a2"},
        ],
    )
    assert texts([row], template="{input}/{instruction}/{response}") == [
        "user: q1\nassistant: a1/q2/a2"
    ]


def test_preference_rows_render_the_chosen_answer():
    good, bad = ({"role": "assistant", "content": text} for text in ("good", "bad"))
    row = Row(instruction="q", chosen=[good], rejected=[bad])
    assert texts([row], template="{response}") == ["good"]


@pytest.mark.parametrize(
    ("template", "message"),
    [("{question}", "the template uses {question}"), ("{input", "the template is malformed")],
)
def test_a_bad_template_is_refused_before_writing(template, message):
    out = io.StringIO()
    with pytest.raises(FormatError, match=message):
        template_text.write([Row(instruction="q", output="a")], out, template=template)
    assert out.getvalue() == ""


def test_is_export_only():
    assert template_text.CAPABILITIES == ("write",) and not hasattr(template_text, "read")
