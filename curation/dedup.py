"""Near-duplicate records: MinHash over character n-grams, so Chinese text (no spaces between
words) is compared as well as English. Exact duplicates are already skipped on import.

The text of a record is its prompt and answer, normalised (NFKC, lower case, whitespace
collapsed). Candidate pairs come from MinHash LSH; a pair is kept when its estimated Jaccard
similarity reaches the threshold, and pairs are joined into groups.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass, field

from curation.models import Project

NGRAM = 3
NUM_PERM = 64
_SPACE = re.compile(r"\s+")


@dataclass
class Group:
    """Records that read nearly the same; `similarity` is the lowest estimated Jaccard
    similarity of the pairs that joined them."""

    ids: list[int]
    similarity: float
    previews: dict[int, str] = field(default_factory=dict)


def normalise(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def _message_text(messages) -> list[str]:
    parts = []
    for message in messages or ():
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            for call in message.get("tool_calls") or ():
                function = call.get("function", {}) if isinstance(call, dict) else {}
                parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    return parts


def record_text(instruction, input, output, messages, chosen) -> str:
    parts = [instruction or "", input or "", output or ""]
    parts += _message_text(messages) + _message_text(chosen)
    return normalise("\n".join(p for p in parts if p))


def shingles(text: str, n: int = NGRAM) -> set[bytes]:
    if len(text) <= n:
        return {text.encode()} if text else set()
    return {text[i : i + n].encode() for i in range(len(text) - n + 1)}


def _hash(data: bytes) -> int:
    return zlib.crc32(data)  # C speed; MinHash only needs a well-spread 32-bit hash


def near_duplicates(
    project: Project,
    *,
    threshold: float = 0.8,
    status: list[str] | None = None,
    limit: int = 100,
) -> list[Group]:
    """Groups of at least two records of `project` whose texts are at least `threshold`
    similar, most similar first, at most `limit` groups."""
    from datasketch import MinHash, MinHashLSH

    records = project.records.all()
    if status:
        records = records.filter(status__in=status)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes: dict[int, MinHash] = {}
    texts: dict[int, str] = {}
    rows = records.order_by("pk").values_list(
        "pk", "instruction", "input", "output", "messages", "chosen"
    )
    for pk, *content in rows.iterator(chunk_size=2000):
        text = record_text(*content)
        grams = shingles(text)
        if not grams:
            continue
        minhash = MinHash(num_perm=NUM_PERM, hashfunc=_hash)
        minhash.update_batch(grams)
        lsh.insert(pk, minhash)
        hashes[pk] = minhash
        texts[pk] = text
    parent: dict[int, int] = {}
    lowest: dict[int, float] = {}

    def root(pk: int) -> int:
        while parent.get(pk, pk) != pk:
            pk = parent[pk]
        return pk

    for pk, minhash in hashes.items():
        for other in lsh.query(minhash):
            if other <= pk:
                continue
            similarity = minhash.jaccard(hashes[other])
            if similarity < threshold:
                continue
            a, b = root(pk), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
            top = min(a, b)
            lowest[top] = min(lowest.get(top, 1.0), lowest.get(max(a, b), 1.0), similarity)
    groups: dict[int, list[int]] = {}
    for pk in parent:
        groups.setdefault(root(pk), []).append(pk)
    result = []
    for top, members in groups.items():
        ids = sorted({top, *members})
        result.append(
            Group(
                ids=ids,
                similarity=round(lowest.get(top, 1.0), 3),
                previews={pk: texts[pk][:160] for pk in ids},
            )
        )
    result.sort(key=lambda g: (-g.similarity, g.ids[0]))
    return result[:limit]
