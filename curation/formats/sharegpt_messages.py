"""ShareGPT with OpenAI-style key names: `messages` of `role`/`content` turns.

LLaMA-Factory reads it with `tags` role/content/user/assistant/...; tool calls are turns with
role "function_call" and results role "observation", as in ShareGPT (not OpenAI `tool_calls`,
which is the openai_chat format). Rows are the same as in `sharegpt`.
"""

from __future__ import annotations

from .sharegpt import Codec, Dialect

NAME = "sharegpt_messages"
CAPABILITIES = ("read", "write")
HOLDS_TOOLS = True  # as sharegpt
DIALECT = Dialect(
    NAME,
    "messages",
    "role",
    "content",
    {
        "user": "user",
        "assistant": "assistant",
        "system": "system",
        "function_call": "function_call",
        "observation": "observation",
    },
)

_codec = Codec(DIALECT)
parse = _codec.parse
dump = _codec.dump
read = _codec.read
write = _codec.write
