"""HTTP contenders: a comparison asks Tunedesk's own /v1 endpoint over real HTTP, and gets
what the local path gets for the same model; failing endpoints end it, never hang it."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.tokens import issue_token
from jobs.models import Job
from training import compare, compare_entry, compare_http
from training.backends import BackendError, Endpoint, chat, chat_with_retries
from training.models import BaseModel, Comparison

from .test_compare import data_dir, run, snapshot, tiny_adapter  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

KEY_ENV = "TD_COMPARE_HTTP_KEY"
PRICES = {"price_per_1k_prompt_tokens": 0.002, "price_per_1k_completion_tokens": 0.006}


def http_model(name: str, base_url: str, api_model: str, **extra) -> BaseModel:
    return BaseModel.objects.create(
        name=name,
        kind=BaseModel.Kind.HTTP,
        base_url=base_url,
        api_model=api_model,
        **{"api_key_env": KEY_ENV} | extra,
    )


def run_child(comparison, tmp_path: Path, **http) -> dict:
    """The comparison child in this process (the live server answers from a thread of it)."""
    config = compare.child_config(comparison) | {"http": http}
    (tmp_path / "config.json").write_text(json.dumps(config))
    compare_entry.run(tmp_path / "config.json")
    report = json.loads((tmp_path / "report.json").read_text())
    lines = (tmp_path / "examples.jsonl").read_text().splitlines()
    return report | {"example_lines": [json.loads(line) for line in lines]}


@pytest.fixture
def served(live_server, run, people, monkeypatch):  # noqa: F811 - fixture
    """The run's base model and its tuned adapter served by Tunedesk's /v1, registered as
    HTTP models (the engineer's token may use the run as run-<id>)."""
    monkeypatch.setenv(KEY_ENV, issue_token(people["engineer"], name="compare")[1])
    url = live_server.url + "/v1"
    http_model("tiny-http", url, run.base_model.name, **PRICES)
    http_model("tuned-http", url, f"run-{run.pk}")
    return run


def test_an_http_contender_answers_as_the_local_model_over_real_http(
    served, people, tmp_path, client_for
):
    comparison = compare.compare_run(
        served,
        people["engineer"],
        names=[
            "base",
            "tuned",
            "base-http=model:tiny-http",
            "tuned-http=model:tuned-http,prompt:short",
        ],
        max_new_tokens=8,
        dtype="float32",  # what the endpoint serves in
        probe=False,
        enqueue=False,
    )
    local_base, local_tuned, http_base, http_tuned = comparison.contenders
    assert http_base["endpoint"]["model"] == "tiny-llama" and http_base["model"] is None
    assert http_base["prompt"] == local_base["prompt"]  # long by default, as base
    assert http_tuned["prompt"] == local_tuned["prompt"]  # the run's own
    report = run_child(comparison, tmp_path, concurrency=2)

    pairs = [("base", "base-http")]
    ran = {c["name"]: c["ran"] for c in report["contenders"]}
    if ran["tuned"]["adapter"] == "merged":  # the endpoint serves the adapter merged
        pairs.append(("tuned", "tuned-http"))
    for example in report["example_lines"]:
        outs = example["outputs"]
        for local, http in pairs:
            # Greedy, same prompt: the same answer, the same token counts (from `usage`).
            assert outs[http]["answer"] == outs[local]["answer"]
            assert outs[http]["prompt_tokens"] == outs[local]["prompt_tokens"] > 0
            assert outs[http]["completion_tokens"] == outs[local]["completion_tokens"] > 0
    headline = {h["name"]: h for h in report["headline"]}
    for local, http in pairs:
        for key in ("tool_name_accuracy", "argument_exact_match", "false_call_rate", "chrf"):
            assert headline[http][key] == headline[local][key]
    http = headline["base-http"]
    assert http["latency_n"] == report["examples"] and http["latency_p50_ms"] > 0
    assert http["first_token_p50_ms"] is None and http["decode_ms_per_token"] is None
    tokens = [
        (e["outputs"]["base-http"]["prompt_tokens"], e["outputs"]["base-http"]["completion_tokens"])
        for e in report["example_lines"]
    ]
    expected = sum(0.002 * p + 0.006 * c for p, c in tokens) / len(tokens)  # per request, x1000/1k
    assert http["cost_per_1k_requests"] == pytest.approx(expected)
    assert headline["tuned-http"]["cost_per_1k_requests"] is None  # no prices registered
    endpoint = ran["base-http"]["endpoint"]
    assert endpoint["base_url"].endswith("/v1") and endpoint["native_tools"] is True
    assert ran["base-http"]["latency"]["over_http"] is True
    assert ran["base-http"]["latency"]["same_answers"] == report["examples"]
    assert ran["base-http"]["failed_requests"] == 0
    assert ran["base-http"]["latency"]["first_token"].startswith("not measured")  # no stream

    report.pop("example_lines")
    Comparison.objects.filter(pk=comparison.pk).update(report=report)
    Job.objects.filter(pk=comparison.job_id).update(status=Job.Status.SUCCEEDED)
    page = client_for("engineer").get(reverse("training:comparison", args=["shop", comparison.pk]))
    text = re.sub(r"\s+", " ", page.content.decode())
    assert (
        f'data-endpoint="base-http">OpenAI-compatible HTTP endpoint {endpoint["base_url"]}' in text
    )
    assert "base-http: answered by an OpenAI-compatible HTTP endpoint" in text
    assert "base-http: latency measured over HTTP" in text
    assert "tuned-http: no per-token prices in the model registry" in text
    assert "base-http against base: whole request" in text  # no first-token split over HTTP


def test_the_launch_form_adds_an_http_contender(run, client_for):  # noqa: F811
    remote = http_model("hosted", "http://127.0.0.1:9/v1", "big-model")
    client = client_for("engineer")
    page = client.get(reverse("training:comparisons", args=["shop"])).content.decode()
    assert f'<option value="{remote.pk}">hosted</option>' in page
    launch = reverse("training:comparison_launch", args=["shop"])
    form = {"run": run.pk, "max_new_tokens": 8, "batch_size": 1, "http_model": remote.pk}
    response = client.post(launch, form | {"http_prompt": "short"})
    assert response.status_code == 302
    contenders = Comparison.objects.get().contenders
    assert [c["name"] for c in contenders] == ["base", "tuned", "hosted"]
    assert contenders[2]["endpoint"]["model"] == "big-model"
    assert contenders[2]["prompt"] == contenders[1]["prompt"]  # short: the run's own


def test_tools_written_into_the_prompt_give_the_same_answers(served, people, tmp_path):
    BaseModel.objects.filter(name="tiny-http").update(native_tools=False)
    comparison = compare.compare_run(
        served,
        people["engineer"],
        names=["base", "base-http=model:tiny-http,prompt:long"],
        max_new_tokens=6,
        dtype="float32",
        latency_sample=1,
        enqueue=False,
    )
    report = run_child(comparison, tmp_path)
    for example in report["example_lines"]:
        outs = example["outputs"]
        assert outs["base-http"]["answer"] == outs["base"]["answer"]
        assert outs["base-http"]["prompt_tokens"] == outs["base"]["prompt_tokens"]
    assert report["contenders"][1]["ran"]["endpoint"]["native_tools"] is False


def test_a_dead_endpoint_fails_the_job_with_a_clear_message(run, people):  # noqa: F811
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http_model("dead", f"http://127.0.0.1:{port}/v1", "m", api_key_env="")
    comparison = compare.compare_run(
        run,
        people["engineer"],
        names=["base", "dead-long=model:dead", "dead-short=model:dead,prompt:short"],
        max_new_tokens=4,
        probe=False,
        latency_sample=0,
        enqueue=False,
    )
    Job.objects.filter(pk=comparison.job_id).update(
        params=comparison.job.params | {"http": {"retries": 1, "backoff_s": 0.05}}
    )
    comparison.job.refresh_from_db()
    started = time.monotonic()
    job = compare.run_compare_job(comparison.job)
    assert job.status == Job.Status.FAILED
    assert f"127.0.0.1:{port}" in job.error and "could not be reached" in job.error
    assert time.monotonic() - started < 120


class Flaky(BaseHTTPRequestHandler):
    """Answers 503, then 429, then a completion; or always 500; or too late."""

    script: list = []
    seen: list = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers["Content-Length"]))
        Flaky.seen.append(self.path)
        step = Flaky.script.pop(0) if len(Flaky.script) > 1 else Flaky.script[0]
        if step == "slow":
            time.sleep(6)
            step = 200
        body = {"error": {"message": "busy"}}
        if step == 200:
            body = {
                "choices": [{"message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            }
        data = json.dumps(body).encode()
        self.send_response(step)
        if step == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Flaky.seen = []
    yield Endpoint(base_url=f"http://127.0.0.1:{server.server_port}/v1", model="m")
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=False)
def test_rate_limits_and_server_errors_are_asked_again(flaky):
    Flaky.script = [503, 429, 200]
    response, latency, attempts = chat_with_retries(
        flaky, [{"role": "user", "content": "hi"}], backoff_s=0.01
    )
    assert attempts == 3 and response["usage"]["completion_tokens"] == 1 and latency > 0
    assert Flaky.seen == ["/v1/chat/completions"] * 3


@pytest.mark.django_db(transaction=False)
def test_a_server_that_keeps_failing_ends_as_failed_examples_then_a_failed_job(flaky, tmp_path):
    Flaky.script = [500]
    examples = compare_entry.load_examples(
        [
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "a"},
                ]
            }
            for i in range(8)
        ],
        project_tools=None,
    )
    contender = {"name": "remote", "endpoint": asdict(flaky), "prompt": {}}
    setup = {"latency_sample_indices": [], "http": {"retries": 1, "backoff_s": 0.01}}
    progress = compare_entry.PhasedProgress(tmp_path, [("test", 8)])
    with pytest.raises(compare_http.EndpointFailed, match=r"remote: 4 request\(s\) to .* 500"):
        compare_http.answer(contender, examples, setup, progress, parse=compare_entry.parse)
    assert len(Flaky.seen) <= 2 * (compare_http.MAX_FAILED + 1 + 3)  # stopped early


@pytest.mark.django_db(transaction=False)
def test_a_request_past_its_timeout_ends_within_it(flaky):
    Flaky.script = ["slow"]
    started = time.monotonic()
    with pytest.raises(BackendError, match="no answer within 0.3 s"):
        chat_with_retries(flaky, [{"role": "user", "content": "hi"}], timeout=0.3, retries=0)
    assert time.monotonic() - started < 5  # not the 6 s the answer would take


def test_an_unknown_registered_name_is_a_clear_command_error(run):  # noqa: F811
    with pytest.raises(CommandError, match=r"No base model named 'nope'.*register it first"):
        call_command("compare", "--run", str(run.pk), "--contender", "x=model:nope", "--inline")


def test_an_http_model_takes_no_adapter(run):  # noqa: F811
    http_model("remote", "http://127.0.0.1:9/v1", "m")
    with pytest.raises(CommandError, match="answers as it is served"):
        call_command("compare", "--run", str(run.pk), "--contender", f"x=model:remote,run:{run.pk}")


def test_the_api_takes_an_http_contender(run, api_for):  # noqa: F811
    http_model("hosted", "http://127.0.0.1:9/v1", "big-model")
    response = api_for("engineer").post(
        "/api/projects/shop/comparisons/",
        {"run": run.pk, "contenders": ["base", "hosted=model:hosted,prompt:short"]},
        format="json",
    )
    assert response.status_code == 201 and response.json()["contenders"] == ["base", "hosted"]
    unknown = api_for("engineer").post(
        "/api/projects/shop/comparisons/",
        {"run": run.pk, "contenders": ["base", "x=model:nope"]},
        format="json",
    )
    assert unknown.status_code == 404 and "No base model named 'nope'" in unknown.content.decode()


class Streaming(BaseHTTPRequestHandler):
    """Streams when asked to (two pieces 0.2 s apart: text, or a tool call), else answers
    at once; the pieces put together are the answer it gives unstreamed."""

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tool = body["messages"][-1]["content"] == "tool"
        if not body.get("stream"):
            message = {"role": "assistant", "content": "Hello"}
            if tool:
                call = {"name": "check_stock", "arguments": '{"product": "x"}'}
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": call}],
                }
            data = json.dumps(
                {
                    "choices": [{"message": message}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if tool:
            deltas = [
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c1",
                            "function": {"name": "check_stock", "arguments": '{"product":'},
                        }
                    ]
                },
                {"tool_calls": [{"index": 0, "function": {"arguments": ' "x"}'}}]},
            ]
        else:
            deltas = [{"role": "assistant", "content": "Hel"}, {"content": "lo"}]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for n, delta in enumerate(deltas):
            if n:
                time.sleep(0.2)
            chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def streaming():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Streaming)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Endpoint(base_url=f"http://127.0.0.1:{server.server_port}/v1", model="m")
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=False)
def test_a_streamed_answer_is_put_together_with_its_first_token_time(streaming):
    text, latency = chat(streaming, [{"role": "user", "content": "hi"}], stream=True)
    assert text["choices"][0]["message"]["content"] == "Hello"
    assert text["usage"] == {"prompt_tokens": 5, "completion_tokens": 2}
    assert 0 < text["first_token_s"] < latency - 0.15
    call, _ = chat(streaming, [{"role": "user", "content": "tool"}], stream=True)
    (tool_call,) = call["choices"][0]["message"]["tool_calls"]
    assert tool_call["function"] == {"name": "check_stock", "arguments": '{"product": "x"}'}


@pytest.mark.django_db(transaction=False)
def test_an_endpoint_that_streams_gets_its_time_to_first_token_measured(streaming, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "Hello"}]}
        for q in ("hi", "tool")
    ]
    examples = compare_entry.load_examples(rows, project_tools=None)
    contender = {"name": "remote", "endpoint": asdict(streaming), "prompt": {}}
    setup = {"latency_sample_indices": [0, 1], "http": {"concurrency": 2}}
    progress = compare_entry.PhasedProgress(tmp_path, [("test", 2), ("latency", 2)])
    outputs, _, ran = compare_http.answer(
        contender, examples, setup, progress, parse=compare_entry.parse
    )
    assert ran["latency"]["first_token"] == "measured by streaming"
    assert ran["latency"]["same_answers"] == 2  # streamed or not, the same answers
    assert outputs[0]["answer"] == "Hello" and outputs[1]["parse"] == "tool_calls"
    for out in outputs:
        assert 0 < out["first_token_ms"] < out["latency_ms"] - 150
        assert out["prompt_tokens"] == 5 and out["completion_tokens"] == 2
    figures = compare_entry.latency_by_kind(examples, outputs)["all"]
    assert figures["first_token_p50_ms"] > 0 and figures["decode_ms_per_token"] > 150


def test_the_command_sets_the_http_concurrency_and_timeout(run):  # noqa: F811
    http_model("remote", "http://127.0.0.1:9/v1", "m", api_key_env="")
    with pytest.raises(CommandError):  # nothing listens on port 9: the job fails, fast
        call_command(
            "compare",
            "--run",
            str(run.pk),
            "--contender",
            "a=model:remote",
            "--contender",
            "b=model:remote,prompt:short",
            "--inline",
            "--no-probe",
            "--http-concurrency",
            "1",
            "--http-timeout",
            "5",
            "--latency-sample",
            "0",
        )
    comparison = Comparison.objects.get()
    assert compare.child_config(comparison)["http"] == {"concurrency": 1, "timeout_s": 5.0}
