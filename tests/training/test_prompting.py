from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.record_content import instruction_messages, replies
from training.prompting import (
    PromptError,
    PromptSpec,
    build_messages,
    render_prompt,
    render_training_example,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "天气",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def tokenizer(tiny):
    return tiny[1]


@pytest.fixture
def plain_tokenizer(tokenizer):
    """A text-completion tokenizer: the tiny one without a chat template."""
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    return tok


def trained_text(tokenizer, ids, labels) -> list[str]:
    """The decoded runs of tokens that count toward the loss."""
    runs, run = [], []
    for token, label in zip(ids, labels, strict=True):
        if label != -100:
            assert label == token
            run.append(token)
        elif run:
            runs.append(tokenizer.decode(run))
            run = []
    return runs + ([tokenizer.decode(run)] if run else [])


def test_an_instruction_pair_becomes_a_user_turn_with_its_input_and_an_answer(tokenizer):
    messages = instruction_messages("翻译成英文", "你好", "Hello")
    prompt = render_prompt(tokenizer, PromptSpec(), messages[:-1])
    assert "<|im_start|>user\n翻译成英文\n\n你好<|im_end|>" in prompt
    assert "input" not in prompt
    ids, labels = render_training_example(tokenizer, PromptSpec(), messages)
    assert trained_text(tokenizer, ids, labels) == ["Hello<|im_end|>"]


def test_tools_go_into_the_system_message_when_the_template_has_no_tool_support(tokenizer):
    own = {"name": "get_weather", "description": "record's own", "parameters": {}}
    spec = PromptSpec(system_prompt="Be brief.", tools=[WEATHER])
    chat = build_messages(spec, messages=[{"role": "user", "content": "hi"}], tools=[own])
    system = chat[0]["content"]
    assert chat[0]["role"] == "system" and system.startswith("Be brief.\n\n")
    assert "<tools>" in system and "record's own" in system and "天气" not in system
    assert render_prompt(tokenizer, spec, [{"role": "user", "content": "hi"}]).count("<tools>") == 1


def test_tools_are_passed_natively_to_a_template_that_takes_them(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = (
        "{% for t in tools or [] %}TOOL {{ t.function.name }}\n{% endfor %}"
        "{% for m in messages %}{{ m.role }}: {{ m.content }}"
        "{% for c in m.tool_calls or [] %}CALL {{ c.function.name }}{% endfor %}\n{% endfor %}"
    )
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [{"function": {"name": "get_weather"}}]},
        {"role": "tool", "content": "sunny"},
        {"role": "user", "content": "thanks"},
    ]
    prompt = render_prompt(tok, PromptSpec(tools=[WEATHER]), messages)
    assert prompt.startswith("TOOL get_weather\n")
    assert "CALL get_weather" in prompt and "tool: sunny" in prompt
    assert "<tools>" not in prompt and "<tool_call>" not in prompt


def test_tool_calls_and_results_become_text_turns_the_template_accepts(tokenizer):
    messages = [
        {"role": "user", "content": "北京天气"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": '{"city": "北京"}'}},
                {"function": {"name": "get_weather", "arguments": {"city": "上海"}}},
            ],
        },
        {"role": "tool", "content": '{"temp": 20}'},
        {"role": "tool", "content": {"temp": 25}},
    ]
    chat = build_messages(PromptSpec(), messages=messages)
    assert chat[1]["content"] == (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "北京"}}</tool_call>\n'
        '<tool_call>{"name": "get_weather", "arguments": {"city": "上海"}}</tool_call>'
    )
    assert chat[2] == {
        "role": "user",
        "content": '<tool_response>\n{"temp": 20}\n</tool_response>\n'
        '<tool_response>\n{"temp": 25}\n</tool_response>',
    }
    assert len(chat) == 3


def test_a_prompt_cannot_end_with_the_answer(tokenizer):
    with pytest.raises(PromptError, match="nothing to generate"):
        render_prompt(tokenizer, PromptSpec(), instruction_messages("q", output="a"))


def test_loss_covers_exactly_the_assistant_turns_of_a_real_tool_call_conversation(
    tokenizer, glaive_records
):
    messages, tools = next(
        (m, t) for m, t in glaive_records if sum(x["role"] == "tool" for x in m) == 2
    )
    spec = PromptSpec(system_prompt="你是助手。")
    ids, labels = render_training_example(tokenizer, spec, messages, tools=tools, max_length=None)
    expected = [
        a["content"] or build_messages(PromptSpec(), messages=[a])[0]["content"]
        for _, a in replies(messages)
    ]
    assert trained_text(tokenizer, ids, labels) == [e + "<|im_end|>" for e in expected]
    assert any("<tool_call>" in e for e in expected)


@pytest.mark.parametrize(
    "which", ["tiny", pytest.param("bundled", marks=pytest.mark.slow)], ids=["tiny", "smollm2"]
)
def test_training_sees_exactly_the_prompt_drafting_renders_before_each_answer(
    which, request, glaive_records
):
    tokenizer = request.getfixturevalue(which)[1]
    spec = PromptSpec(system_prompt="你是助手。", few_shot=[instruction_messages("q", output="a")])
    for messages, tools in glaive_records[:20]:
        ids, labels = render_training_example(
            tokenizer, spec, messages, tools=tools, max_length=None
        )
        starts = [
            i for i in range(len(ids)) if labels[i] != -100 and (i == 0 or labels[i - 1] == -100)
        ]
        contexts = [context for context, _ in replies(messages)]
        assert len(starts) == len(contexts)
        for start, context in zip(starts, contexts, strict=True):
            prompt = render_prompt(tokenizer, spec, context, tools=tools)
            assert tokenizer(prompt, add_special_tokens=False)["input_ids"] == ids[:start]


def test_few_shot_answers_and_zero_weight_turns_are_not_trained(tokenizer):
    spec = PromptSpec(few_shot=[instruction_messages("example q", output="EXAMPLE")])
    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "skip me", "weight": 0},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "learn me"},
    ]
    ids, labels = render_training_example(tokenizer, spec, messages)
    assert trained_text(tokenizer, ids, labels) == ["learn me<|im_end|>"]
    assert "EXAMPLE" in tokenizer.decode(ids)


def test_a_record_without_an_answer_to_learn_is_refused(tokenizer):
    with pytest.raises(PromptError, match="no assistant turn"):
        render_training_example(tokenizer, PromptSpec(), instruction_messages("q"))


def test_truncation_drops_old_context_and_keeps_the_last_answer(tokenizer):
    messages = instruction_messages("long question " * 100, output="short answer")
    full, full_labels = render_training_example(tokenizer, PromptSpec(), messages, max_length=None)
    ids, labels = render_training_example(tokenizer, PromptSpec(), messages, max_length=64)
    end = max(i for i, label in enumerate(full_labels) if label != -100) + 1
    assert len(full) > 64 and len(ids) == 64
    assert ids == full[end - 64 : end]
    assert trained_text(tokenizer, ids, labels) == ["short answer<|im_end|>"]


def test_an_answer_longer_than_max_length_keeps_its_start(tokenizer):
    messages = instruction_messages("q", output="answer " * 200)
    ids, labels = render_training_example(tokenizer, PromptSpec(), messages, max_length=64)
    assert len(ids) == 64
    trained = trained_text(tokenizer, ids, labels)
    assert len(trained) == 1 and trained[0].startswith("answer answer")
    assert labels[0] == -100  # some prompt context is kept before it


def test_a_model_without_chat_template_uses_the_prompt_template(plain_tokenizer):
    spec = PromptSpec(
        system_prompt="SYS",
        template="{system}\n### instruction\n{instruction}\n### input\n{input}\n"
        "### response\n{response}",
    )
    messages = instruction_messages("翻译", "你好", "Hello")
    prompt = render_prompt(plain_tokenizer, spec, messages[:-1])
    assert prompt == "SYS\n### instruction\n翻译\n### input\n你好\n### response\n"
    ids, labels = render_training_example(plain_tokenizer, spec, messages)
    assert trained_text(plain_tokenizer, ids, labels) == ["Hello<|im_end|>"]
    prompt_ids = plain_tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[: len(prompt_ids)] == prompt_ids and labels[len(prompt_ids) - 1] == -100


def test_the_prompt_template_renders_earlier_exchanges_as_blocks(plain_tokenizer):
    spec = PromptSpec(template="Q: {instruction}\nA: {response}")
    messages = instruction_messages("two", output="2", history=[["one", "1"]])
    prompt = render_prompt(plain_tokenizer, spec, messages[:-1])
    assert prompt == "Q: one\nA: 1<|im_end|>\n\nQ: two\nA: "
    ids, labels = render_training_example(plain_tokenizer, spec, messages)
    assert trained_text(plain_tokenizer, ids, labels) == ["1<|im_end|>", "2<|im_end|>"]


def test_an_answer_is_tokenized_apart_from_the_prompt_it_follows(tokenizer):
    # Whole-text tokenization would merge the prompt's last "\n" into the answer's "\n\n".
    messages = instruction_messages("q", output="\n\nthe answer")
    ids, labels = render_training_example(tokenizer, PromptSpec(), messages)
    prompt = render_prompt(tokenizer, PromptSpec(), messages[:-1])
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[: len(prompt_ids)] == prompt_ids
    assert labels[len(prompt_ids)] != -100
    assert (
        tokenizer(prompt + "\n\nthe", add_special_tokens=False)["input_ids"][: len(prompt_ids)]
        != prompt_ids
    )


def test_a_model_with_neither_template_is_refused_with_a_fix(plain_tokenizer):
    with pytest.raises(PromptError, match="set a prompt template"):
        render_prompt(plain_tokenizer, PromptSpec(), [{"role": "user", "content": "hi"}])


def test_spec_from_a_stored_dict_ignores_unknown_keys():
    spec = PromptSpec.from_dict({"system_prompt": "s", "tools": None, "colour": "red"})
    assert spec == PromptSpec(system_prompt="s")


TEXT = st.text(
    alphabet=st.sampled_from(list('ab c\n{}":,天气北京 the answer_0123')), min_size=1, max_size=40
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(turns=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=4), system=TEXT)
def test_loss_mask_matches_the_answers_for_any_text(tokenizer, turns, system):
    messages = []
    for question, answer in turns:
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    spec = PromptSpec(system_prompt=system)
    ids, labels = render_training_example(tokenizer, spec, messages, max_length=None)
    assert "".join(trained_text(tokenizer, ids, labels)) == "".join(
        a + "<|im_end|>" for _, a in turns
    )
    assert json.dumps(ids)  # plain ints, ready for a dataset


def test_building_messages_twice_changes_nothing(tokenizer, glaive_records):
    messages, tools = glaive_records[0]
    spec = PromptSpec(system_prompt="你是助手。", tools=tools)
    once = build_messages(spec, messages=messages[:3])
    assert build_messages(spec, messages=once) == once
    assert render_prompt(tokenizer, spec, once) == render_prompt(tokenizer, spec, messages[:3])


def test_the_short_prompt_puts_the_projects_name_where_the_default_system_line_would_be(
    tokenizer, project
):
    """The default system line is the context general questions are asked in (the forgetting
    probe's); the tuned behaviour gets a line of its own, and no tool schema."""
    from training.prompt_setups import prompt_spec

    project.name = "直播助手 ·\n Live shop"
    spec = PromptSpec.from_dict(prompt_spec(project, "short"))
    request = [{"role": "user", "content": "上架T恤，99元"}]
    text = render_prompt(tokenizer, spec, request)
    assert text.startswith("<|im_start|>system\n直播助手 · Live shop<|im_end|>\n")
    assert "SmolLM" not in text and "check_stock" not in text
    # Exports carry the project's tools on every row: the short prompt still leaves them out,
    # and keeps a tool the row brings beyond them.
    own = render_prompt(tokenizer, spec, request, tools=[*project.tools, WEATHER])
    assert "check_stock" not in own and "get_weather" in own
    assert "check_stock" in render_prompt(
        tokenizer, PromptSpec.from_dict(prompt_spec(project, "full")), request
    )
    bare = render_prompt(tokenizer, PromptSpec(), [{"role": "user", "content": "上架T恤，99元"}])
    assert "SmolLM" in bare
