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


class BackendError(Exception):
    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} Fix: {hint}" if hint else message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str
    api_key_env: str = ""

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
) -> tuple[dict, float]:
    """POST /chat/completions; returns (the response object, latency in seconds)."""
    body: dict = {
        "model": endpoint.model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if tools:
        body["tools"] = tools
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
            payload = json.loads(response.read())
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")[:500]
        raise BackendError(
            f"{url} answered {e.code}: {detail}",
            hint="check the model name and the API key variable in the model registry",
        ) from None
    except (urllib.error.URLError, TimeoutError) as e:
        raise BackendError(
            f"{url} could not be reached ({getattr(e, 'reason', e)}).",
            hint="check the base URL and that the server is running",
        ) from None
    except ValueError:
        raise BackendError(
            f"{url} did not answer with JSON.", hint="is it an OpenAI-compatible endpoint?"
        ) from None
    if not isinstance(payload, dict) or not payload.get("choices"):
        raise BackendError(f"{url} answered without choices: {str(payload)[:300]}")
    return payload, time.perf_counter() - started
