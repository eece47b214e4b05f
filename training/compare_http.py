"""A comparison contender answered by an OpenAI-compatible server (vLLM, llama.cpp's server,
Ollama, a hosted API, Tunedesk's own /v1). No Django: the comparison child calls `answer`.

Each test turn is one request, built from the contender's own prompt setup by
`prompting.endpoint_request` (tools as `tools=` where the registry says the server takes
them, else written into the prompt as for a local model), sent through `backends` (the one
HTTP client) by a small thread pool, and parsed by the same `parsing` as local output. Usage
comes from each response's `usage`; cost per 1,000 requests from the registry's per-token
prices. Latency: the sampled turns sent again one at a time, each timed over HTTP as a whole
request, and streamed where the endpoint streams, for the time to first token (else it is
not measured).

A request that fails after its retries (rate limits, server errors, no answer within the
timeout) leaves a failed example; a wrong key, model or URL, or too many failed requests,
fail the job with the endpoint's own message. Nothing waits longer than the timeout times
the tries, so a slow or dead server cannot hang the job.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from curation.record_content import call_parts
from jobs.progress import PhasedProgress
from training.backends import BackendError, Endpoint, chat_with_retries
from training.prompting import PromptSpec, endpoint_request, merge_tools, tool_call_text

#: Requests in flight at once per HTTP contender.
CONCURRENCY = 4
#: Seconds one request may take (whole answer), and how often a failed one is asked again.
TIMEOUT_S = 60.0
RETRIES = 2
BACKOFF_S = 1.0
#: Failed requests (after retries) past which the job stops: this many, or this share.
MAX_FAILED = 3
MAX_FAILED_SHARE = 0.1


class EndpointFailed(RuntimeError):
    pass


def settings(setup: dict) -> dict:
    http = setup.get("http") or {}
    return {
        "concurrency": max(1, int(http.get("concurrency") or CONCURRENCY)),
        "timeout_s": float(http.get("timeout_s") or TIMEOUT_S),
        "retries": int(http.get("retries", RETRIES)),
        "backoff_s": float(http.get("backoff_s", BACKOFF_S)),
    }


def answer(
    contender: dict,
    examples: list[dict],
    setup: dict,
    progress: PhasedProgress,
    *,
    parse,
    probe_rows=None,
) -> tuple[list[dict], dict | None, dict]:
    """(outputs, probe answers or None, how it ran), shaped as a local contender's.

    `parse(text, tools, tool_calls)` is the child's parser; `probe_rows()` the probe's
    questions when this contender takes the probe."""
    name = contender["name"]
    endpoint = Endpoint(**contender["endpoint"])
    spec = PromptSpec.from_dict(contender.get("prompt") or {})
    http = settings(setup)
    max_new_tokens = int(setup.get("max_new_tokens") or 256)
    requests = [
        endpoint_request(
            spec,
            messages=e["context"],
            tools=e["tools"],
            native_tools=endpoint.native_tools,
        )
        for e in examples
    ]
    progress.phase("load", contender=name)
    progress.phase("test", len(examples), contender=name)
    started = time.perf_counter()
    results = _send_all(endpoint, requests, max_new_tokens, http, progress, name)
    seconds = time.perf_counter() - started
    outputs = []
    for example, result in zip(examples, results, strict=True):
        offered = merge_tools(setup.get("tools"), example["tools"])
        outputs.append(_output(result, offered, parse))
    answered = [o for o in outputs if o["finish_reason"] != "error"]
    completion = sum(o["completion_tokens"] or 0 for o in answered)
    ran: dict[str, Any] = {
        "endpoint": {
            "kind": "openai-compatible HTTP",
            "base_url": endpoint.base_url,
            "model": endpoint.model,
            "native_tools": endpoint.native_tools,
        },
        "adapter": None,
        "failed_requests": len(outputs) - len(answered),
        "throughput": {
            "concurrency": http["concurrency"],
            "requests": len(outputs),
            "seconds": round(seconds, 3),
            "requests_per_s": len(outputs) / seconds if seconds else None,
            "tokens_per_s": completion / seconds if seconds else None,
            "prices": contender.get("prices") or {},
        },
    }
    probe = None
    if probe_rows is not None:
        rows = probe_rows()
        progress.phase("probe", len(rows), contender=name)
        probe_requests = [([{"role": "user", "content": r["question"]}], None) for r in rows]
        limit = int((setup.get("probe") or {}).get("max_new_tokens") or 64)
        answers = _send_all(endpoint, probe_requests, limit, http, progress, name)
        probe = {r["id"]: _message(a)[0] for r, a in zip(rows, answers, strict=True)}
        ran["probe_cache"] = "not cached (HTTP)"
    ran["latency"] = _time_requests(
        endpoint, requests, outputs, setup, http, max_new_tokens, progress, name, parse
    )
    return outputs, probe, ran


def _send_all(
    endpoint: Endpoint,
    requests: list[tuple[list[dict], list | None]],
    max_new_tokens: int,
    http: dict,
    progress: PhasedProgress,
    name: str,
) -> list[dict | BackendError]:
    """Each request's response, or the error it ended with, in order; at most `concurrency`
    in flight. Raises EndpointFailed once no further request can help."""
    results: list[dict | BackendError | None] = [None] * len(requests)
    allowed = max(MAX_FAILED, int(MAX_FAILED_SHARE * len(requests)))
    failed = 0
    pool = ThreadPoolExecutor(max_workers=http["concurrency"], thread_name_prefix="http")
    try:
        pending: dict[Future, int] = {}
        queue = iter(range(len(requests)))
        for index in queue:
            pending[pool.submit(_ask, endpoint, *requests[index], max_new_tokens, http)] = index
            if len(pending) == http["concurrency"]:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                result = results[index] = future.result()
                if isinstance(result, BackendError):
                    failed += 1
                    if result.fatal or failed > allowed:
                        raise EndpointFailed(
                            f"{name}: {failed} request(s) to {endpoint.base_url} failed, the "
                            f"last with: {result}"
                        )
                progress.advance()
                following = next(queue, None)
                if following is not None:
                    future = pool.submit(_ask, endpoint, *requests[following], max_new_tokens, http)
                    pending[future] = following
    finally:
        # Requests already sent end within their timeout; none not yet sent is started.
        pool.shutdown(wait=False, cancel_futures=True)
    return results  # type: ignore[return-value]


def _ask(
    endpoint: Endpoint,
    messages: list[dict],
    tools: list | None,
    max_new_tokens: int,
    http: dict,
    *,
    stream: bool = False,
) -> dict | BackendError:
    try:
        response, latency, attempts = chat_with_retries(
            endpoint,
            messages,
            tools=tools,
            max_tokens=max_new_tokens,
            temperature=0.0,
            timeout=http["timeout_s"],
            retries=http["retries"],
            backoff_s=http["backoff_s"],
            stream=stream,
        )
    except BackendError as e:
        return e
    first = response.get("first_token_s") if stream else None
    return {"response": response, "latency_s": latency, "first_token_s": first}


def _message(result: dict | BackendError) -> tuple[str, list | None, dict, str]:
    """(content, tool_calls, usage, finish_reason) of a result ("" and "error" for an error)."""
    if isinstance(result, BackendError):
        return "", None, {}, "error"
    choice = result["response"]["choices"][0]
    message = choice.get("message") or {}
    content = message.get("content")
    return (
        content if isinstance(content, str) else "",
        message.get("tool_calls") or None,
        result["response"].get("usage") or {},
        choice.get("finish_reason") or "",
    )


def _output(result: dict | BackendError, offered: list[dict], parse) -> dict:
    content, tool_calls, usage, finish_reason = _message(result)
    kind, answer_ = parse(content, offered, tool_calls)
    raw = content
    if tool_calls:  # what the server parsed out of its text, shown as the local raw would be
        raw = "\n".join(
            [content] * bool(content) + [tool_call_text(*call_parts(c)) for c in tool_calls]
        )
    out = {
        "raw": raw,
        "parse": kind,
        "answer": answer_,
        "latency_ms": None,  # timed alone below, for the sampled examples
        "first_token_ms": None,  # measured below if the endpoint streams
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "finish_reason": finish_reason,
    }
    if isinstance(result, BackendError):
        out["request_error"] = str(result)
    return out


def _time_requests(
    endpoint: Endpoint,
    requests: list[tuple[list[dict], list | None]],
    outputs: list[dict],
    setup: dict,
    http: dict,
    max_new_tokens: int,
    progress: PhasedProgress,
    name: str,
    parse,
) -> dict:
    """The sampled examples sent one at a time, each timed as a whole request over HTTP,
    after one untimed request (as the local path warms its cache) that also finds out whether
    the endpoint streams: then the time to first token is measured too."""
    sample = [i for i in setup["latency_sample_indices"] if "request_error" not in outputs[i]]
    progress.phase("latency", len(sample), contender=name)
    figures = {
        "batch_size": 1,
        "over_http": True,
        "first_token": "not measured (the endpoint does not stream)",
        "requests": len(sample),
        "same_answers": 0,
    }
    if not sample:
        return figures
    warm = _ask(endpoint, *requests[sample[0]], max_new_tokens, http, stream=True)
    stream = not isinstance(warm, BackendError) and warm["first_token_s"] is not None
    if stream:
        figures["first_token"] = "measured by streaming"
    for i in sample:
        result = _ask(endpoint, *requests[i], max_new_tokens, http, stream=stream)
        progress.advance()
        if isinstance(result, BackendError):
            continue
        content, tool_calls, _usage, _finish = _message(result)
        figures["same_answers"] += parse(content, None, tool_calls)[1] == outputs[i]["answer"]
        outputs[i]["latency_ms"] = result["latency_s"] * 1000
        if result["first_token_s"] is not None:
            outputs[i]["first_token_ms"] = result["first_token_s"] * 1000
    return figures
