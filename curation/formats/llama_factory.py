"""The LLaMA-Factory `dataset_info.json` entry that reads an exported file as it is.

Optional columns (system, history, tools, input) are listed only when the file has them:
LLaMA-Factory fails on a mapped column that no row has. Pass the top-level keys that the
writer reports (`Written.keys`); without them the writer's usual keys are assumed.
openai_chat and sharegpt_messages/messages_preference entries suit text conversations;
export tool-calling data as `sharegpt` (function_call/observation turns) for LLaMA-Factory.
"""

from __future__ import annotations

from collections.abc import Collection

from .base import FormatError

_ROLE_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
}
_USUAL_KEYS = {
    "alpaca": {"instruction", "input", "output"},
    "alpaca_preference": {"instruction", "input", "chosen", "rejected"},
    "sharegpt": {"conversations"},
    "sharegpt_messages": {"messages"},
    "openai_chat": {"messages"},
    "messages_preference": {"messages", "chosen", "rejected"},
    "trl_preference": {"prompt", "chosen", "rejected"},
    "template_text": {"text"},
}


def dataset_info_entry(
    format_name: str, file_name: str, *, keys: Collection[str] | None = None
) -> dict:
    if format_name not in _USUAL_KEYS:
        raise FormatError(
            0,
            f"LLaMA-Factory cannot read {format_name} files as they are",
            hint="export as sharegpt, alpaca or alpaca_preference for LLaMA-Factory",
        )
    present = set(_USUAL_KEYS[format_name] if keys is None else keys)
    entry: dict = {"file_name": file_name}
    optional: dict[str, str] = {}
    if format_name in ("alpaca", "alpaca_preference"):
        columns = {"prompt": "instruction"}
        optional = {"query": "input", "system": "system", "history": "history"}
        if format_name == "alpaca":
            columns["response"] = "output"
        else:
            entry["ranking"] = True
            columns |= {"chosen": "chosen", "rejected": "rejected"}
        entry["formatting"] = "alpaca"
    elif format_name == "trl_preference":
        entry |= {"formatting": "alpaca", "ranking": True}
        columns = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}
    elif format_name == "template_text":
        columns = {"prompt": "text"}
    else:
        entry["formatting"] = "sharegpt"
        container = "conversations" if format_name == "sharegpt" else "messages"
        columns = {"messages": container}
        optional = {"system": "system", "tools": "tools"}
        if "chosen" in present:
            entry["ranking"] = True
            columns |= {"chosen": "chosen", "rejected": "rejected"}
        if format_name == "sharegpt_messages":
            entry["tags"] = _ROLE_TAGS | {
                "observation_tag": "observation",
                "function_tag": "function_call",
                "system_tag": "system",
            }
        elif format_name != "sharegpt":
            entry["tags"] = _ROLE_TAGS | {"system_tag": "system"}
    columns |= {name: key for name, key in optional.items() if key in present}
    entry["columns"] = columns
    return entry
