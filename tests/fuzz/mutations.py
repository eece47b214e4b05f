"""Hypothesis strategies that damage real files: at the byte level and inside the parsed JSON.

`mutated(seed)` draws a file made from `seed` by zero to three JSON-level mutations (type
swaps, deleted or renamed keys, deep nesting, numbers past 4,300 digits, huge strings, odd
roles, broken tool-call arguments, NUL and lone surrogates in strings) followed by zero to
three byte-level ones (flips, insertions, deletions, truncation, duplicated or dropped
delimiters, invalid UTF-8, BOMs). Positions are drawn as integers so hypothesis shrinks a
failure to a small edit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples per test; FUZZ_EXAMPLES=2000 runs deeper locally.
DEPTH = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int, **kwargs) -> settings:
    """Reproducible settings for CI (derandomized, no example database), or FUZZ_EXAMPLES
    random examples per test when that variable is set."""
    deep = DEPTH > 0
    return settings(
        max_examples=DEPTH or examples,
        derandomize=not deep,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
            HealthCheck.large_base_example,
        ],
        print_blob=True,
        **kwargs,
    )


# --- JSON-level mutations ---------------------------------------------------------------------

ROLES = [
    "human",
    "gpt",
    "user",
    "assistant",
    "system",
    "tool",
    "function_call",
    "observation",
    "function",
    "developer",
    "Human",
    "GPT",
    "",
    " user",
    "机器人",
]
KEYS = [
    "instruction",
    "input",
    "output",
    "system",
    "history",
    "conversations",
    "messages",
    "from",
    "value",
    "role",
    "content",
    "tools",
    "tool_calls",
    "tool_call_id",
    "function",
    "name",
    "arguments",
    "weight",
    "chosen",
    "rejected",
    "prompt",
    "preferred_output",
    "non_preferred_output",
    "",
    "__proto__",
    "Instruction",
]
ODD_TEXT = ["\x00", "\ud800", "\udfff", "\ud83d", "\ud83d\ude00", "\ufeff", "\u2028", "\\", '"']

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(ODD_TEXT + ROLES),
)


def _paths(value: object, path: tuple = ()) -> list[tuple]:
    """Every node's path (keys and indexes from the root)."""
    out = [path]
    if type(value) is dict:
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif type(value) is list:
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _get(value: object, path: tuple) -> object:
    for step in path:
        value = value[step]
    return value


def _set(root: object, path: tuple, new: object) -> object:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _nest(value: object, depth: int, use_dict: bool) -> str:
    """`value` nested `depth` levels deep, as JSON text (too deep for the json module)."""
    inner = json.dumps(value, ensure_ascii=False, allow_nan=True)
    if use_dict:
        return '{"k":' * depth + inner + "}" * depth
    return "[" * depth + inner + "]" * depth


def _swap_type(draw, value: object) -> object:
    return draw(
        st.sampled_from(
            [
                "",
                "text",
                [],
                {},
                0,
                -1.5,
                2**64,
                None,
                True,
                False,
                [value],
                {"value": value},
                json.dumps(value, ensure_ascii=False, allow_nan=True),
                float("nan"),
                "[" * 100_000 + "]" * 100_000,  # JSON text too deep, e.g. as "tools"
            ]
        )
    )


def _arguments(draw, value: object) -> object:
    """Tool-call arguments (or a function_call value) spoilt in one of the usual ways."""
    return draw(
        st.sampled_from(
            [
                json.dumps(json.dumps(value, ensure_ascii=False)),  # double-encoded
                "{not json",
                '{"a": 1',
                "",
                "null",
                "[1, 2]",
                '"text"',
                42,
                [value],
                '{"name": 1, "arguments": {}}',
                '[{"name": "f", "arguments": {}}, 3]',
                "[]",
                "[" * 100_000 + "]" * 100_000,
                '{"name": "f", "arguments": ' + "[" * 5000 + "]" * 5000 + "}",
                '{"quantity": ' + "9" * 5000 + "}",  # past Python's 4,300 digits
            ]
        )
    )


@st.composite
def json_mutation(draw, root: object, nests: dict) -> object:
    """`root` (a list of records, changed in place and returned) with one node spoilt.

    Deeply nested values are left as markers in `nests` (marker -> JSON text) for `_dumps`.
    """
    paths = _paths(root)
    path = paths[draw(st.integers(0, len(paths) - 1))]
    value = _get(root, path)
    parent = _get(root, path[:-1]) if path else None
    op = draw(
        st.sampled_from(
            [
                "swap",
                "delete",
                "rename",
                "nest",
                "long_number",
                "huge",
                "role",
                "arguments",
                "odd_text",
                "scalar",
                "duplicate",
                "add_key",
            ]
        )
    )
    if op == "swap":
        return _set(root, path, _swap_type(draw, value))
    if op == "delete" and type(parent) is dict:
        del parent[path[-1]]
        return root
    if op == "delete" and type(parent) is list:
        parent.pop(path[-1])
        return root
    if op == "rename" and type(parent) is dict:
        new = draw(st.sampled_from(KEYS) | st.text(max_size=6))
        items = [(new if k == path[-1] else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        return root
    if op == "nest":
        depth = draw(st.sampled_from([2, 30, 850, 900, 950, 990, 1100, 100_000]))
        marker = f"\x01nest-{len(nests)}\x01"
        nests[marker] = _nest(value, depth, draw(st.booleans()))
        return _set(root, path, marker)
    if op == "long_number":  # past Python's 4,300-digit limit for reading an integer
        digits = draw(st.sampled_from([4301, 5000, 100_000]))
        marker = f"\x01nest-{len(nests)}\x01"
        nests[marker] = draw(st.sampled_from(["", "-"])) + "9" * digits
        return _set(root, path, marker)
    if op == "huge":
        size = draw(st.sampled_from([70_000, 300_000, 1_100_000]))  # past the 1 MiB chunk
        return _set(root, path, draw(st.sampled_from(["x", "字", "\\", "\n"])) * size)
    if op == "role":
        for node in (value, parent):
            if type(node) is dict:
                for key in ("role", "from"):
                    if key in node:
                        node[key] = draw(st.sampled_from(ROLES) | SCALARS)
                        return root
    if op == "arguments":
        for node in (value, parent):
            if type(node) is dict:
                if "arguments" in node:
                    node["arguments"] = _arguments(draw, node["arguments"])
                    return root
                if node.get("from") == "function_call" or node.get("role") == "function_call":
                    key = "value" if "value" in node else "content"
                    node[key] = _arguments(draw, node.get(key))
                    return root
    if op == "odd_text" and type(value) is str:
        at = draw(st.integers(0, len(value)))
        odd = draw(st.sampled_from(ODD_TEXT))
        return _set(root, path, value[:at] + odd + value[at:])
    if op == "duplicate" and type(parent) is list:
        parent.insert(path[-1], value)
        return root
    if op == "add_key" and type(value) is dict:
        value[draw(st.sampled_from(KEYS))] = draw(SCALARS)
        return root
    return _set(root, path, draw(SCALARS))


def _dumps(draw, records: list, layout: str, nests: dict) -> bytes:
    ascii_ = draw(st.booleans())
    if layout == "array":
        text = json.dumps(records, ensure_ascii=ascii_, indent=draw(st.sampled_from([None, 2])))
    else:
        text = "".join(json.dumps(r, ensure_ascii=ascii_) + "\n" for r in records)
    for marker, deep in reversed(nests.items()):  # a later nest may hold an earlier one
        text = text.replace(json.dumps(marker, ensure_ascii=ascii_), deep)
    # A lone surrogate written raw becomes the (invalid) UTF-8 bytes ed a0 80.
    return text.encode("utf-8", "surrogatepass")


# --- byte-level mutations ---------------------------------------------------------------------

DELIMITERS = b',[]{}":\n\\'
INSERTS = [
    b",",
    b"]",
    b"[",
    b"{",
    b"}",
    b'"',
    b":",
    b"\n",
    b"\\",
    b"\\u",
    b"\xff",
    b"\xc3",
    b"\xe5\xad",
    b"\xed\xa0\x80",  # an encoded surrogate: not UTF-8
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xc0\x80",  # overlong NUL
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\x00",
    b"\r",
    b"NaN",
    b"1e999",
    b'"\\ud800"',
    b"\x00\x00\x00",
]


@st.composite
def byte_mutation(draw, data: bytes) -> bytes:
    n = len(data)
    at = draw(st.integers(0, n))
    op = draw(
        st.sampled_from(
            ["flip", "insert", "delete", "truncate", "dup_delim", "drop_delim", "bom", "random"]
        )
    )
    if op == "flip" and n:
        at = min(at, n - 1)
        bit = 1 << draw(st.integers(0, 7))
        return data[:at] + bytes([data[at] ^ bit]) + data[at + 1 :]
    if op == "insert":
        return data[:at] + draw(st.sampled_from(INSERTS)) + data[at:]
    if op == "delete":
        return data[:at] + data[at + draw(st.integers(1, 64)) :]
    if op == "truncate":
        return data[:at]
    if op in ("dup_delim", "drop_delim"):
        delim = draw(st.sampled_from(list(DELIMITERS)))
        spots = [i for i, b in enumerate(data) if b == delim]
        if spots:
            i = spots[draw(st.integers(0, len(spots) - 1))]
            extra = data[i : i + 1] if op == "dup_delim" else b""
            return (
                data[:i] + extra + data[i + 1 :]
                if op == "drop_delim"
                else data[:i] + extra + data[i:]
            )
        return data
    if op == "bom":
        return (
            draw(st.sampled_from([b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe"]))
            + data
        )
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


# --- whole files ------------------------------------------------------------------------------


def _records(data: bytes) -> tuple[list, str] | None:
    """The records of a JSON seed and its layout, or None for a CSV seed."""
    text = data.decode()
    if text.startswith("["):
        return json.loads(text), "array"
    if text.startswith("{"):
        return [json.loads(line) for line in text.splitlines() if line], "jsonl"
    return None


class Blob(bytes):
    """File bytes that print short: hypothesis shows failing inputs, and these can be MBs.
    `save()` keeps the whole input for a regression test."""

    def __repr__(self) -> str:
        head = bytes(self[:120])
        more = f" ... ({len(self)} bytes, sha1 {self.digest()})" if len(self) > 120 else ""
        return f"Blob({head!r}{more})"

    def digest(self) -> str:
        return hashlib.sha1(self).hexdigest()[:12]

    def save(self) -> Path:
        FAILURES.mkdir(parents=True, exist_ok=True)
        path = FAILURES / f"{self.digest()}.bin"
        path.write_bytes(self)
        return path


FAILURES = Path(os.environ.get("FUZZ_FAILURES", "/tmp/tunedesk-fuzz-failures"))


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` with up to three JSON-level then up to three byte-level mutations (at least one)."""
    data = seed
    parsed = _records(seed)
    json_ops = draw(st.integers(0, 3)) if parsed else 0
    if json_ops:
        records, layout = parsed
        nests: dict = {}
        for _ in range(json_ops):
            records = draw(json_mutation(records, nests))
        if type(records) is not list:
            records = [records]
        layout = draw(st.sampled_from([layout, "array", "jsonl"]))
        data = _dumps(draw, records, layout, nests)
    byte_ops = draw(st.sampled_from([0, 0, 1, 2, 3] if json_ops else [1, 1, 2, 3]))
    for _ in range(byte_ops):
        data = draw(byte_mutation(data))
    return Blob(data)
