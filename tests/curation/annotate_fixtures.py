"""Records and drafts for the workflow, view and browser tests."""

from __future__ import annotations

import json

from curation.models import Draft, Record, content_hash


def tool_record(project, *, text="发个满两百减30的券，放200张", answer=None, **fields) -> Record:
    messages = [{"role": "user", "content": text}]
    if answer is not None:
        messages.append(answer)
    record = Record(project=project, kind="conversation", messages=messages, **fields)
    record.content_hash = content_hash(record.content())
    record.save()
    return record


def call(name: str, arguments: dict) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        ],
    }


def instruction_record(project, *, instruction="把这句话翻译成英文", output="", **fields):
    record = Record(
        project=project,
        kind="instruction",
        instruction=instruction,
        input="今天天气很好。",
        output=output,
        **fields,
    )
    record.content_hash = content_hash(record.content())
    record.save()
    return record


def preference_record(project, **fields) -> Record:
    record = Record(
        project=project,
        kind="conversation",
        messages=[
            {"role": "user", "content": "直播间怎么提高人气？"},
            {"role": "assistant", "content": "可以先发个福袋。"},
            {"role": "user", "content": "还有呢？"},
        ],
        chosen=[{"role": "assistant", "content": "多和观众互动，定时抽奖。"}],
        rejected=[{"role": "assistant", "content": "不知道。"}],
        **fields,
    )
    record.content_hash = content_hash(record.content())
    record.save()
    return record


def draft(record, *, text="", tool_calls=None, model="smollm2-135m") -> Draft:
    return Draft.objects.create(
        record=record,
        model_name=model,
        text=text,
        tool_calls=tool_calls,
        parse_status="tool_calls" if tool_calls else "text",
    )
