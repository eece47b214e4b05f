"""A body fuzzer over every API write endpoint and /v1/chat/completions, as an engineer with
a token, aimed at real objects: whatever the body, the answer is JSON and never a 5xx.
Seeded and bounded (FUZZ_API_BODIES=200 per endpoint runs deeper); prints bodies tried / 5xx."""

from __future__ import annotations

import json
import os
import random

import pytest

from tests.api.test_bodies import write_endpoints
from tests.security.test_url_walker import world  # noqa: F401 - a fixture

from .mutations import KEYS, ODD_TEXT, ROLES

pytestmark = pytest.mark.django_db
PER_ENDPOINT = int(os.environ.get("FUZZ_API_BODIES", "12"))
FIELDS = KEYS + [
    "format", "rows", "skip_bad", "status", "statuses", "test_ratio", "seed", "split",
    "snapshot", "base_model", "method", "epochs", "learning_rate", "max_steps", "run",
    "contenders", "limit", "model", "max_tokens", "max_completion_tokens", "stop", "stream",
    "temperature", "version", "answer", "action", "ids", "assignee", "tags", "comment",
    "records", "tool_calls", "text", "mode", "name", "slug", "task_kind",
]  # fmt: skip
RAW = [
    "",
    "{",
    "[" * 5000,
    "[" * 5000 + "]" * 5000,
    '{"a": ' + "9" * 5000 + "}",
    '{"a": NaN}',
    '{"a": 1e999}',
    "\ufeff{}",
    "null",
    "[]",
    '"text"',
    "{}" * 3,
]


def value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63, 2**70, -(2**64), 10**300])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e-320, 3.14])
    if kind == 4:
        return rng.choice(ODD_TEXT + ROLES)
    if kind == 5:
        return "".join(rng.choice("ab字\n\\\"'<>{}") for _ in range(rng.randrange(40)))
    if kind == 6:
        return rng.choice(
            ["alpaca", "openai_chat", "sft", "dpo", "accepted", "train", "x" * 70_000]
        )
    if kind == 7:
        return rng.choice(["tiny", "base", "tuned", "smollm2-135m-instruct", "run-1"])
    if kind in (8, 9):
        return [value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(FIELDS): value(rng, depth + 1) for _ in range(rng.randrange(5))}


def body(rng: random.Random) -> tuple[str, str]:
    """(text, content type)."""
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(RAW), "application/json"
    if roll < 0.2:
        return "format=alpaca&rows=1", rng.choice(
            ["text/plain", "application/x-www-form-urlencoded"]
        )
    obj = {rng.choice(FIELDS): value(rng) for _ in range(rng.randrange(1, 7))}
    if rng.random() < 0.3:  # a chat request with one thing wrong, for /v1
        obj = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]} | obj
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"), "application/json"


def test_no_body_gets_a_5xx_from_any_write_endpoint(api_for, world, client, settings):  # noqa: F811
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    api = api_for("engineer")
    key = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    endpoints = write_endpoints(world) + [("post", "/v1/chat/completions")]
    rng = random.Random(15)
    tried, failures = 0, []
    for method, path in endpoints:
        for _ in range(PER_ENDPOINT):
            text, content_type = body(rng)
            caller = client if path.startswith("/v1/") else api
            headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if caller is client else {}
            response = getattr(caller, method)(path, text, content_type=content_type, **headers)
            tried += 1
            if response.status_code >= 500 or "json" not in response["Content-Type"]:
                failures.append(f"{method.upper()} {path} {text[:200]!r}: {response.status_code}")
    print(f"API body fuzzer: {tried} bodies over {len(endpoints)} endpoints, {len(failures)} 5xx")
    assert not failures, "\n".join(failures)
