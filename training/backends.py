"""Client for OpenAI-compatible HTTP endpoints (vLLM, Ollama, llama.cpp server, hosted APIs).

Standard library only, so it also runs inside child processes without Django.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

#: Answers worth asking again: rate limited, server trouble, or no answer at all (status None).
RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}
#: Answers that no other request to this endpoint would get otherwise: wrong key or model.
FATAL = {401, 403, 404}
#: The longest a Retry-After header may make a retry wait.
MAX_RETRY_AFTER_S = 30.0


class BackendError(Exception):
    """`status`: the HTTP status the endpoint answered, None when it gave no answer.
    `fatal`: no request to this endpoint can succeed (wrong key, model or URL)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(f"{message} Fix: {hint}" if hint else message)
        self.message = message
        self.hint = hint
        self.status = status
        self.retry_after = retry_after
        self.fatal = fatal or status in FATAL

    @property
    def retryable(self) -> bool:
        return not self.fatal and (self.status is None or self.status in RETRYABLE)


@dataclass(frozen=True)
class Endpoint:
    """native_tools: the server takes `tools=` and answers `tool_calls`; else the caller
    writes the tools into the prompt, as for a local model."""

    base_url: str
    model: str
    api_key_env: str = ""
    native_tools: bool = True

    def api_key(self) -> str:
        if not self.api_key_env:
            return ""
        key = os.environ.get(self.api_key_env)
        if not key:
            raise BackendError(
                f"The environment variable {self.api_key_env} (the API key of {self.base_url}) "
                "is not set.",
                hint=f"export {self.api_key_env}=<key> in the environment of the web server and "
                "the worker",
                fatal=True,
            )
        return key


def chat(
    endpoint: Endpoint,
    messages: list[dict],
    *,
    tools: list | None = None,
    max_tokens: int = 256,
    temperature: float = 0.0,
    timeout: float = 120.0,
    stream: bool = False,
) -> tuple[dict, float]:
    """POST /chat/completions; returns (the response object, latency in seconds).

    With `stream` the answer is read as server-sent events and put together into the same
    response object, which then also says `first_token_s`: the seconds until the first
    piece of the answer came (None if the server ignored `stream` and answered at once)."""
    body: dict = {
        "model": endpoint.model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if tools:
        body["tools"] = tools
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    if key := endpoint.api_key():
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if stream and "text/event-stream" in response.headers.get("Content-Type", ""):
                payload = _read_events(response, started, timeout)
            else:
                payload = json.loads(response.read())
                if stream and isinstance(payload, dict):
                    payload["first_token_s"] = None
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")[:500]
        raise BackendError(
            f"{url} answered {e.code}: {detail}",
            hint="check the model name and the API key variable in the model registry",
            status=e.code,
            retry_after=_seconds(e.headers.get("Retry-After")),
        ) from None
    except (OSError, TimeoutError) as e:  # URLError, refused, reset, timed out
        raise BackendError(
            f"{url} could not be reached or gave no answer within {timeout:g} s "
            f"({getattr(e, 'reason', e)}).",
            hint="check the base URL and that the server is running",
        ) from None
    except ValueError:
        raise BackendError(
            f"{url} did not answer with JSON.",
            hint="is it an OpenAI-compatible endpoint?",
            status=200,
        ) from None
    if not isinstance(payload, dict) or not payload.get("choices"):
        raise BackendError(f"{url} answered without choices: {str(payload)[:300]}", status=200)
    return payload, time.perf_counter() - started


def _read_events(response, started: float, timeout: float) -> dict:
    """A streamed chat completion (`data: {chunk}` lines up to `data: [DONE]`) as one
    response object. The timeout holds for the whole answer, not only for each read."""
    content: list[str] = []
    calls: dict[int, dict] = {}
    finish, usage, first = None, None, None
    for raw in response:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"the streamed answer took over {timeout:g} s")
        line = raw.decode("utf-8").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if first is None and (delta.get("content") or delta.get("tool_calls")):
                first = time.perf_counter() - started
            content.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(
                    call.get("index", len(calls)),
                    {
                        "id": call.get("id"),
                        "type": "function",
                        "function": {"name": "", "arguments": ""},
                    },
                )
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    message: dict = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[k] for k in sorted(calls)]
    return {
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
        "first_token_s": first,
    }


def chat_with_retries(
    endpoint: Endpoint,
    messages: list[dict],
    *,
    retries: int = 2,
    backoff_s: float = 1.0,
    timeout: float = 60.0,
    **options,
) -> tuple[dict, float, int]:
    """`chat`, asked again after a rate limit, a server error or no answer (waiting
    backoff_s, then twice that, ..., or what Retry-After says, up to 30 s); an answer that
    will not change (400, 401, 404 ...) is raised at once. Returns (response, latency of the
    attempt that answered, attempts); raises the last BackendError."""
    attempts = 0
    while True:
        attempts += 1
        try:
            response, latency = chat(endpoint, messages, timeout=timeout, **options)
            return response, latency, attempts
        except BackendError as e:
            if not e.retryable or attempts > retries:
                raise
            wait = e.retry_after if e.retry_after is not None else backoff_s * 2 ** (attempts - 1)
            time.sleep(min(wait, MAX_RETRY_AFTER_S))


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: back off as usual
        return None
