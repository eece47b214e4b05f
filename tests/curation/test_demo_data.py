import json
import re
from collections import Counter

import pytest
from jsonschema import Draft202012Validator

from curation.demo_data import GUIDELINES, SYSTEM_PROMPT, TOOLS, generate, write_jsonl, zh_numeral

SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
TEXT_ARGS = {"product_name", "content", "prize", "keyword", "viewer", "variant"}
EN_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()  # noqa: E501
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def rows():
    return generate(seed=0, n=1000)


def calls(rows):
    for row in rows:
        user, assistant = row["messages"]
        for call in assistant.get("tool_calls") or []:
            yield user["content"], call


def said(key, value, text):
    """Is `value` spoken in `text` in one of the forms a streamer uses?"""
    if isinstance(value, float):
        yuan, jiao = str(value).split(".")
        forms = [f"{yuan}块{jiao}", f"{zh_numeral(int(yuan))}块{'零一二三四五六七八九'[int(jiao)]}"]
        return str(value) in text or any(f in text for f in forms)
    if re.search(rf"(?<![\d.]){value}(?!\d|\.\d)", text):
        return True
    forms = [zh_numeral(value)] + ([EN_WORDS[value]] if value <= 20 else [])
    forms += ["两"] if value == 2 else []
    if key.endswith("minutes") and value % 30 == 0:
        forms += ["小时", "hour"]
    return any(f in text.lower() for f in forms)


def test_same_seed_gives_identical_rows():
    assert generate(seed=7, n=200) == generate(seed=7, n=200)


def test_different_seeds_give_different_rows():
    assert generate(seed=1, n=200) != generate(seed=2, n=200)


def test_tools_are_in_the_openai_shape_with_valid_json_schemas():
    assert 6 <= len(TOOLS) <= 8
    for tool in TOOLS:
        assert tool["type"] == "function"
        fn = tool["function"]
        assert fn["name"] and fn["description"]
        Draft202012Validator.check_schema(fn["parameters"])
        assert set(fn["parameters"]["required"]) <= set(fn["parameters"]["properties"])


def test_rows_are_openai_chat_rows_without_repeated_tools(rows):
    for row in rows:
        assert set(row) == {"messages"}
        user, assistant = row["messages"]
        assert user["role"] == "user" and user["content"].strip()
        assert assistant["role"] == "assistant"
        if assistant.get("tool_calls"):
            assert assistant["content"] is None
        else:
            assert assistant["content"].strip()


def test_every_tool_call_validates_against_its_schema(rows):
    ids = []
    for _, call in calls(rows):
        assert call["type"] == "function"
        name = call["function"]["name"]
        arguments = json.loads(call["function"]["arguments"])
        errors = list(Draft202012Validator(SCHEMAS[name]).iter_errors(arguments))
        assert not errors, (name, arguments, errors[0].message)
        ids.append(call["id"])
    assert len(set(ids)) == len(ids)


def test_mix_is_mostly_tool_calls_with_some_answers_and_questions(rows):
    kinds = Counter()
    for row in rows:
        assistant = row["messages"][1]
        if assistant.get("tool_calls"):
            kinds["tool"] += 1
        elif re.search(r"[?？]", assistant["content"]):
            kinds["clarify"] += 1
        else:
            kinds["answer"] += 1
    assert 0.75 <= kinds["tool"] / len(rows) <= 0.85
    assert 0.07 <= kinds["clarify"] / len(rows) <= 0.13
    assert 0.07 <= kinds["answer"] / len(rows) <= 0.13


def test_requests_are_about_sixty_percent_chinese(rows):
    zh = sum(bool(CJK.search(row["messages"][0]["content"])) for row in rows)
    assert 0.55 <= zh / len(rows) <= 0.65


def test_every_tool_is_used_in_both_languages(rows):
    used = {
        (name, bool(CJK.search(text)))
        for text, c in calls(rows)
        for name in [c["function"]["name"]]
    }  # noqa: E501
    assert used == {(name, zh) for name in SCHEMAS for zh in (True, False)}


def test_requests_are_rarely_duplicated(rows):
    texts = [row["messages"][0]["content"] for row in rows]
    assert (len(texts) - len(set(texts))) / len(texts) <= 0.02


def test_arguments_are_stated_in_the_request(rows):
    for text, call in calls(rows):
        for key, value in json.loads(call["function"]["arguments"]).items():
            if key in TEXT_ARGS:
                assert value in text, (key, value, text)
            elif key == "threshold" and value == 0:
                assert "无门槛" in text or "no-" in text, text
            elif isinstance(value, int | float):
                assert said(key, value, text), (key, value, text)


def test_numbers_are_written_as_digits_and_as_chinese_numerals(rows):
    ways = Counter()
    for text, call in calls(rows):
        for value in json.loads(call["function"]["arguments"]).values():
            if isinstance(value, int) and value >= 10 and CJK.search(text):
                ways["digits"] += str(value) in text
                ways["numeral"] += zh_numeral(value) in text
    assert ways["digits"] >= 100 and ways["numeral"] >= 100


def test_optional_arguments_vary_between_calls_of_a_tool(rows):
    key_sets = {}
    for _, call in calls(rows):
        keys = frozenset(json.loads(call["function"]["arguments"]))
        key_sets.setdefault(call["function"]["name"], set()).add(keys)
    for name, schema in SCHEMAS.items():
        if len(schema["properties"]) > len(schema["required"]):
            assert len(key_sets[name]) > 1, name


def test_ambiguous_requests_get_a_question_in_the_same_language(rows):
    questions = [
        r["messages"] for r in rows if re.search(r"[?？]", r["messages"][1]["content"] or "")
    ]  # noqa: E501
    assert questions
    for user, assistant in questions:
        assert bool(CJK.search(user["content"])) == bool(CJK.search(assistant["content"]))


@pytest.mark.parametrize(
    ("n", "spoken"),
    [
        (0, "零"),
        (10, "十"),
        (15, "十五"),
        (50, "五十"),
        (105, "一百零五"),
        (300, "三百"),
        (220, "两百二十"),
        (1010, "一千零一十"),
        (2000, "两千"),
        (1200, "一千二百"),
        (30005, "三万零五"),
    ],
)
def test_zh_numeral_writes_numbers_as_spoken(n, spoken):
    assert zh_numeral(n) == spoken


def test_zh_numeral_rejects_numbers_it_cannot_write():
    with pytest.raises(ValueError, match="0..99999"):
        zh_numeral(100000)


def test_rejects_a_negative_row_count():
    with pytest.raises(ValueError, match="n must be 0 or more"):
        generate(n=-1)


def test_write_jsonl_writes_the_generated_rows(tmp_path):
    path = tmp_path / "demo.jsonl"
    write_jsonl(path, seed=3, n=20)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == generate(seed=3, n=20)
    assert CJK.search(path.read_text(encoding="utf-8"))  # UTF-8, not \u escapes


def test_system_prompt_and_guidelines_name_every_tool():
    assert SYSTEM_PROMPT.startswith("# 角色")
    for name in SCHEMAS:
        assert f"`{name}`" in GUIDELINES
