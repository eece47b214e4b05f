from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from training import draft_entry, generation
from training.generation import generate_batch
from training.modelload import BUNDLED_NAME, load_model
from training.prompting import PromptSpec, render_prompt

from .conftest import MODEL_CACHE, REPO

QUESTIONS = [
    "hi",
    "What is the weather in Beijing today? Please tell me the temperature.",
    "请帮我查询北京今天的天气",
    "a",
    "the answer is 42 " * 6,
    "翻译下面的句子",
    "First paragraph.\n\nSecond paragraph.",
    "x y z",
]


def chat_prompts(tokenizer, questions=QUESTIONS):
    spec = PromptSpec(system_prompt="S")
    return [render_prompt(tokenizer, spec, [{"role": "user", "content": q}]) for q in questions]


def test_batched_greedy_gives_the_same_outputs_as_one_at_a_time(tiny):
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)
    one = generate_batch(model, tokenizer, prompts, max_new_tokens=12, batch_size=1)
    assert len({g.text for g in one}) > 1  # varied outputs, or the comparison proves nothing
    for batch_size in (3, 8):
        batched = generate_batch(
            model, tokenizer, prompts, max_new_tokens=12, batch_size=batch_size
        )
        assert [g.text for g in batched] == [g.text for g in one]
        assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in one]


def test_results_come_back_in_the_order_of_the_prompts(tiny):
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)
    results = generate_batch(model, tokenizer, prompts, max_new_tokens=2, batch_size=3)
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    assert [g.prompt_tokens for g in results] == lengths
    assert lengths != sorted(lengths)


def test_max_new_tokens_caps_the_answer(tiny):
    model, tokenizer = tiny
    (result,) = generate_batch(model, tokenizer, chat_prompts(tokenizer)[:1], max_new_tokens=5)
    assert result.completion_tokens == 5 and result.finish_reason == "length"
    assert result.latency_s > 0


def test_a_stop_string_ends_the_answer_and_is_cut(tiny):
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)[1:2]
    (free,) = generate_batch(model, tokenizer, prompts, max_new_tokens=16)
    stop = free.text[4:6]
    (stopped,) = generate_batch(model, tokenizer, prompts, max_new_tokens=16, stop=[stop])
    assert stopped.text == free.text[: free.text.find(stop)]
    assert stopped.finish_reason == "stop"
    assert stopped.completion_tokens < free.completion_tokens


def test_the_end_of_sequence_token_ends_the_answer(tiny):
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)[:2]
    free = generate_batch(model, tokenizer, prompts, max_new_tokens=8)
    first = tokenizer(free[0].text, add_special_tokens=False)["input_ids"][0]
    eos_model = copy.deepcopy(model)
    eos_model.generation_config.eos_token_id = first  # the first token it would write
    ended = generate_batch(eos_model, tokenizer, prompts, max_new_tokens=8, batch_size=2)
    assert (ended[0].text, ended[0].completion_tokens, ended[0].finish_reason) == ("", 1, "stop")
    assert ended[1].completion_tokens >= 1  # the other row is unaffected by its neighbour


def test_sampling_is_reproducible_with_a_seed(tiny):
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)[:3]
    runs = [
        generate_batch(model, tokenizer, prompts, max_new_tokens=8, temperature=1.5, seed=s)
        for s in (1, 1, 2)
    ]
    texts = [[g.text for g in run] for run in runs]
    assert texts[0] == texts[1] and texts[0] != texts[2]


def generate_tokens(model, tokenizer, prompt, max_new_tokens):
    """model.generate, one unpadded prompt, greedy: the reference every batch size must match."""
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    eos = model.generation_config.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=sorted({eos, tokenizer.eos_token_id}),
            pad_token_id=tokenizer.pad_token_id,
        )
    return out[0, ids.shape[1] :].tolist()


def expected(model, tokenizer, prompts, max_new_tokens):
    """(text, completion_tokens, finish_reason) that model.generate gives for each prompt."""
    ends = {model.generation_config.eos_token_id, tokenizer.eos_token_id}
    rows = []
    for prompt in prompts:
        tokens = generate_tokens(model, tokenizer, prompt, max_new_tokens)
        end = next((n for n, t in enumerate(tokens) if t in ends), None)
        kept = tokens if end is None else tokens[:end]
        text = tokenizer.decode(kept, skip_special_tokens=True)
        if end is None:
            text = text.rstrip("\ufffd")  # as generate_batch: a character cut by the limit
        rows.append((text, len(tokens), "length" if end is None else "stop"))
    return rows


def summary(results):
    return [(g.text, g.completion_tokens, g.finish_reason) for g in results]


@pytest.fixture(scope="module")
def ragged(tiny):
    """The tiny model with an end token chosen so its rows end at many different lengths."""
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)
    free = [generate_tokens(model, tokenizer, p, 24) for p in prompts]

    def first_ends(token):
        return {row.index(token) if token in row else None for row in free}

    token = max({t for row in free for t in row}, key=lambda t: len(first_ends(t)))
    eos_model = copy.deepcopy(model)
    eos_model.generation_config.eos_token_id = token
    return eos_model, tokenizer, prompts


def test_rows_ending_at_different_lengths_match_model_generate_at_every_batch_size(ragged):
    model, tokenizer, prompts = ragged
    reference = expected(model, tokenizer, prompts, 24)
    lengths = {tokens for _, tokens, _ in reference}
    assert len(lengths) >= 4 and {"stop", "length"} <= {r for _, _, r in reference}
    for batch_size in (1, 2, 3, 8):
        results = generate_batch(
            model, tokenizer, prompts, max_new_tokens=24, batch_size=batch_size
        )
        assert summary(results) == reference


def generate_recording_calls(model, tokenizer, prompts, **options):
    """generate_batch's results, and (rows, tokens, decoding) of input_ids in every forward
    call it made. Decoding calls extend the batch's cache; prefill calls (one packed row) keep
    none."""
    calls = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: calls.append(
            (*kwargs["input_ids"].shape, kwargs.get("cache") is not None)
        ),
        with_kwargs=True,
    )
    try:
        return generate_batch(model, tokenizer, prompts, **options), calls
    finally:
        hook.remove()


def test_a_finished_row_leaves_the_batch_and_the_next_prompt_takes_its_place(ragged):
    model, tokenizer, prompts = ragged
    results, calls = generate_recording_calls(
        model, tokenizer, prompts, max_new_tokens=24, batch_size=3
    )
    steps = [rows for rows, _, decoding in calls if decoding]
    assert max(steps) == 3
    # Each prompt's first token comes from its prefill, then one row per later token that is
    # kept: no row-step goes to a finished row.
    assert sum(steps) == sum(g.completion_tokens - 1 for g in results)
    # A prompt takes a free place the step it frees (batch 3 refills one place at a time),
    # so the batch is full while prompts wait.
    assert sum(1 for rows, _, decoding in calls if not decoding) > 1


def test_prompts_waiting_for_a_place_are_prefilled_together_in_one_forward(ragged):
    model, tokenizer, prompts = ragged
    results, calls = generate_recording_calls(
        model, tokenizer, prompts, max_new_tokens=24, batch_size=8
    )
    prefills = [(rows, tokens) for rows, tokens, decoding in calls if not decoding]
    # All the prompts fit the first batch: one packed forward, one row, holds their tokens
    # (but for the prefix each shares with the one before).
    assert len(prompts) <= 8 and len(prefills) == 1 and prefills[0][0] == 1
    assert len(results) == len(prompts) and prefills[0][1] > max(g.prompt_tokens for g in results)


def test_a_shared_prompt_prefix_is_computed_once(tiny):
    model, tokenizer = tiny
    system = "You answer questions about the weather. " * 8
    spec = PromptSpec(system_prompt=system)
    prompts = [render_prompt(tokenizer, spec, [{"role": "user", "content": q}]) for q in QUESTIONS]
    results, calls = generate_recording_calls(
        model, tokenizer, prompts, max_new_tokens=6, batch_size=4
    )
    prefix = len(tokenizer(system, add_special_tokens=False)["input_ids"])
    prompt_tokens = sum(g.prompt_tokens for g in results)
    fed = sum(rows * tokens for rows, tokens, decoding in calls if not decoding)
    assert fed <= prompt_tokens - (len(prompts) - 1) * prefix
    assert summary(results) == expected(model, tokenizer, prompts, 6)


def test_greedy_matches_model_generate_and_every_batch_size_with_one_new_token(tiny):
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)
    reference = expected(model, tokenizer, prompts, 1)
    for batch_size in (1, 8):
        results = generate_batch(model, tokenizer, prompts, max_new_tokens=1, batch_size=batch_size)
        assert summary(results) == reference
        assert all(g.completion_tokens == 1 for g in results)


def test_a_one_token_prompt_batched_with_long_ones_is_completed_as_alone(tiny):
    model, tokenizer = tiny
    short = "a"
    assert len(tokenizer(short, add_special_tokens=False)["input_ids"]) == 1
    prompts = [chat_prompts(tokenizer)[4], short, chat_prompts(tokenizer)[1]]
    (alone,) = generate_batch(model, tokenizer, [short], max_new_tokens=10, batch_size=1)
    batched = generate_batch(model, tokenizer, prompts, max_new_tokens=10, batch_size=3)
    assert summary([batched[1]]) == summary([alone]) == expected(model, tokenizer, [short], 10)
    assert batched[1].prompt_tokens == 1


def test_an_empty_prompt_is_refused_with_its_position(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        generate_batch(model, tokenizer, ["hi", ""], max_new_tokens=4)


@pytest.mark.parametrize("option", ["max_new_tokens", "batch_size"])
def test_zero_tokens_or_rows_are_refused(tiny, option):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match=f"{option} is 0"):
        generate_batch(model, tokenizer, ["hi"], **{option: 0})


def test_rows_that_all_stop_on_the_same_step_make_room_for_the_rest(tiny):
    model, tokenizer = tiny
    same, *others = chat_prompts(tokenizer)[1:5]
    third = generate_tokens(model, tokenizer, same, 8)[2]
    eos_model = copy.deepcopy(model)
    eos_model.generation_config.eos_token_id = third
    prompts = [same] * 4 + others
    results = generate_batch(eos_model, tokenizer, prompts, max_new_tokens=8, batch_size=4)
    assert len({summary([g])[0] for g in results[:4]}) == 1
    assert results[0].finish_reason == "stop" and results[0].completion_tokens <= 3
    assert summary(results) == expected(eos_model, tokenizer, prompts, 8)


def test_stop_strings_cut_every_row_the_same_at_any_batch_size(tiny):
    model, tokenizer = tiny
    prompts = chat_prompts(tokenizer)
    free = generate_batch(model, tokenizer, prompts, max_new_tokens=16, batch_size=1)
    stop = [free[1].text[4:6], free[5].text[2:4]]
    one = generate_batch(model, tokenizer, prompts, max_new_tokens=16, batch_size=1, stop=stop)
    assert sum(g.finish_reason == "stop" for g in one) >= 2
    for g, f in zip(one, free, strict=True):
        cut = min((f.text.find(s) for s in stop if s in f.text), default=len(f.text))
        assert g.text == f.text[:cut]
        assert g.completion_tokens <= f.completion_tokens
    for batch_size in (3, 8):
        batched = generate_batch(
            model, tokenizer, prompts, max_new_tokens=16, batch_size=batch_size, stop=stop
        )
        assert summary(batched) == summary(one)


def test_a_model_with_a_repetition_penalty_still_decodes_like_model_generate(tiny):
    model, tokenizer = tiny
    penalised = copy.deepcopy(model)
    penalised.generation_config.repetition_penalty = 1.5
    prompts = chat_prompts(tokenizer)[:4]
    reference = expected(penalised, tokenizer, prompts, 12)
    assert reference != expected(model, tokenizer, prompts, 12)  # the penalty matters here
    for batch_size in (1, 4):
        results = generate_batch(
            penalised, tokenizer, prompts, max_new_tokens=12, batch_size=batch_size
        )
        assert summary(results) == reference


def write_job(tmp_path, model, records, **settings):
    job = {
        "model": model,
        "cache_dir": str(MODEL_CACHE),
        "prompt": {"system_prompt": "Answer briefly."},
        "records": records,
        "settings": {"max_new_tokens": 6, "batch_size": 2, "threads": 1} | settings,
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    return path


def records(n):
    return [
        {"id": i, "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]}
        for i in range(n)
    ]


def test_the_draft_child_writes_one_line_per_record_and_progress(tiny_model_dir, tmp_path):
    job = write_job(
        tmp_path, {"name": "tiny", "kind": "local", "source": str(tiny_model_dir)}, records(5)
    )
    done = subprocess.run(
        [sys.executable, "-m", "training.draft_entry", str(job)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in (tmp_path / "outputs.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == [0, 1, 2, 3, 4]
    for line in lines:
        assert line["prompt"].startswith("<|im_start|>system\nAnswer briefly.")
        assert line["parsed"]["kind"] in ("text", "tool_calls", "unparseable")
        assert line["completion_tokens"] <= 6 and line["prompt_tokens"] > 0
        assert line["latency_ms"] > 0
    progress = [json.loads(x) for x in (tmp_path / "progress.jsonl").read_text().splitlines()]
    # A line after loading, then one per draft the moment it is done.
    assert [p["done"] for p in progress] == [0, 1, 2, 3, 4, 5]
    assert progress[-1]["total"] == 5 and progress[-1]["eta_s"] == 0
    assert progress[-1]["tokens_per_s"] > 0


def test_the_draft_child_fails_with_the_error_on_stderr(tmp_path):
    missing = {"name": "gone", "kind": "local", "source": str(tmp_path / "gone")}
    job = write_job(tmp_path, missing, records(1))
    done = subprocess.run(
        [sys.executable, "-m", "training.draft_entry", str(job)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "draft failed: ModelLoadError" in done.stderr and "config.json" in done.stderr


def test_a_rerun_skips_drafted_records_and_drops_a_line_cut_by_a_kill(tiny_model_dir, tmp_path):
    job = write_job(tmp_path, str(tiny_model_dir), records(3))
    kept = {"id": 0, "text": "kept"}
    (tmp_path / "outputs.jsonl").write_text(json.dumps(kept) + '\n{"id": 1, "te')
    assert draft_entry.run(json.loads(job.read_text()), job_dir=tmp_path) == 2
    lines = [json.loads(x) for x in (tmp_path / "outputs.jsonl").read_text().splitlines()]
    assert lines[0] == kept
    assert sorted(line["id"] for line in lines) == [0, 1, 2]


class FakeOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that always calls get_weather and remembers the request."""

    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        FakeOpenAI.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        call = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
        body = {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"id": "call_1", "type": "function", "function": call}],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 30, "completion_tokens": 9},
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_the_draft_child_drafts_through_an_http_endpoint_with_native_tools(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tool = {"name": "get_weather", "parameters": {"type": "object"}}
        job = json.loads(write_job(tmp_path, None, records(2)).read_text())
        job["endpoint"] = {"base_url": f"http://127.0.0.1:{server.server_port}/v1", "model": "m"}
        job["records"][0]["tools"] = [tool]
        assert draft_entry.run(job, job_dir=tmp_path) == 2
    finally:
        server.shutdown()
        server.server_close()
    sent = FakeOpenAI.requests[-2]
    assert sent["tools"] == [{"type": "function", "function": tool}]
    assert sent["messages"][0] == {"role": "system", "content": "Answer briefly."}
    lines = [json.loads(x) for x in (tmp_path / "outputs.jsonl").read_text().splitlines()]
    assert lines[0]["parsed"]["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert lines[0]["parsed"]["schema_valid"] is True and lines[1]["parsed"]["schema_valid"] is None
    assert (lines[0]["completion_tokens"], lines[0]["finish_reason"]) == (9, "tool_calls")


@pytest.mark.slow
def test_the_bundled_model_loads_from_cache_and_drafts_a_real_record(glaive_records):
    load_model(BUNDLED_NAME, cache_dir=MODEL_CACHE)  # converts the GGUF on a fresh checkout
    started = time.perf_counter()
    model, tokenizer = load_model(BUNDLED_NAME, cache_dir=MODEL_CACHE)
    assert time.perf_counter() - started < 10  # ~0.2-1 s measured; generous on a busy machine
    assert model.config.vocab_size == 49152 and not hasattr(model.config, "quantization_config")
    messages, tools = glaive_records[0]
    prompt = render_prompt(tokenizer, PromptSpec(), messages[:1], tools=tools)
    (draft,) = generate_batch(model, tokenizer, [prompt], max_new_tokens=24)
    assert draft.text.strip() and draft.completion_tokens > 0


@pytest.mark.slow
def test_batched_greedy_matches_one_at_a_time_on_the_bundled_model(bundled, glaive_records):
    model, tokenizer = bundled
    prompts = [
        render_prompt(tokenizer, PromptSpec(), messages[:1], tools=tools)
        for messages, tools in glaive_records[:6]
    ]
    one = generate_batch(model, tokenizer, prompts, max_new_tokens=24, batch_size=1)
    batched = generate_batch(model, tokenizer, prompts, max_new_tokens=24, batch_size=6)
    assert [g.text for g in batched] == [g.text for g in one]


def test_prompts_over_the_pack_bound_are_prefilled_in_several_forwards_with_the_same_output(
    ragged, monkeypatch
):
    model, tokenizer, prompts = ragged
    reference = summary(generate_batch(model, tokenizer, prompts, max_new_tokens=24, batch_size=8))
    longest = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    monkeypatch.setattr(generation, "PACK_TOKENS", longest)
    results, calls = generate_recording_calls(
        model, tokenizer, prompts, max_new_tokens=24, batch_size=8
    )
    prefills = [tokens for _, tokens, decoding in calls if not decoding]
    assert len(prefills) > 1 and max(prefills) <= longest
    assert summary(results) == reference


def test_on_done_hears_of_every_prompt_as_it_finishes_with_its_final_result(ragged):
    model, tokenizer, prompts = ragged
    heard = []
    results = generate_batch(
        model,
        tokenizer,
        prompts,
        max_new_tokens=24,
        batch_size=3,
        on_done=lambda index, generation: heard.append((index, generation)),
    )
    assert sorted(index for index, _ in heard) == list(range(len(prompts)))
    assert all(results[index] is generation for index, generation in heard)
    # Rows leave the batch as they finish, not in prompt order.
    assert [index for index, _ in heard] != list(range(len(prompts)))
