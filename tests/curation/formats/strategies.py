"""Hypothesis strategies for rows in each format's own JSON shape."""

from __future__ import annotations

import io
import json

from hypothesis import strategies as st

TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "你好，世界", "查询库存", "  ", "line\nbreak", "\u2028", "emoji 😀"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def unknown_keys(known) -> st.SearchStrategy[dict]:
    return st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k not in known), JSON, max_size=2
    )


@st.composite
def shuffled(draw, obj: dict) -> dict:
    """`obj` with its keys in a random order."""
    keys = draw(st.permutations(list(obj)))
    return {k: obj[k] for k in keys}


@st.composite
def schema(draw) -> dict:
    """A JSON schema for tool parameters whose keys come in odd orders."""
    props = draw(
        st.dictionaries(
            st.text(min_size=1, max_size=6),
            st.builds(
                lambda t, d, extra: {"type": t, "description": d, **extra},
                st.sampled_from(["string", "integer", "number", "boolean", "array", "object"]),
                TEXT,
                st.sampled_from([{}, {"enum": ["a", "b"]}, {"default": 1}]),
            ).flatmap(shuffled),
            max_size=3,
        )
    )
    body = {"type": "object", "properties": props}
    if props:
        body["required"] = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
    return draw(shuffled(body))


@st.composite
def glaive_tool(draw) -> dict:
    return draw(
        shuffled(
            {
                "name": draw(st.text(min_size=1, max_size=10)),
                "description": draw(TEXT),
                "parameters": draw(schema()),
            }
        )
    )


@st.composite
def openai_tool(draw) -> dict:
    return {"type": "function", "function": draw(glaive_tool())}


def as_jsonl(objs: list[dict]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def round_trip(module, objs: list[dict], *, array: bool = False, **options) -> list[dict]:
    """Read `objs` with `module` and write them back; the parsed output."""
    out = io.StringIO()
    module.write(module.read(io.StringIO(as_jsonl(objs))), out, array=array, **options)
    text = out.getvalue()
    return json.loads(text) if array else [json.loads(line) for line in text.split("\n") if line]


def same(a, b) -> bool:
    """Equal as JSON, including the order of keys at every level."""
    return json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)
