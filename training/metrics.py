"""Scores for tune-and-compare: tool calls, text answers, response time and cost, significance.

Pure functions over plain data; nothing here knows Django or torch.

An *answer* is either text (a `str`: the model called no tool) or a list of tool calls, each
`{"name", "arguments"}` or the OpenAI `{"function": {"name", "arguments"}}`; arguments are a
dict or a JSON string (a string that does not parse to an object counts as bad JSON).

Argument values are normalised before comparing (`Normalization`):
- strings, mode "bfcl" (default, after the Berkeley Function-Calling Leaderboard checker):
  Unicode NFKC, casefold, then every whitespace and punctuation character removed, so
  "Air-Fryer " == "air fryer" and "“包邮”" == "包邮"; mode "strip": strip and casefold only;
  mode "exact": unchanged;
- numbers compare by value (300 == 300.0); with `numeric_strings` (default on) a string that
  reads as a number equals it ("300" == 300); booleans are never numbers;
- lists compare in order and objects key by key, recursively. Tool and argument names compare
  exactly after strip.

Scales: rates, exact match and ROUGE-L are fractions in 0..1; BLEU and chrF keep sacrebleu's
0..100.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

NO_TOOL = "(no tool)"

Answer = str | Sequence[Mapping[str, Any]] | None
Validator = Callable[[str, dict], bool]


# --- tool calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalization:
    strings: Literal["bfcl", "strip", "exact"] = "bfcl"
    numeric_strings: bool = True


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict | None  # None: the arguments were not a JSON object


@dataclass(frozen=True)
class ToolExample:
    reference: str  # label: a tool name, names joined by "+" for parallel calls, or NO_TOOL
    prediction: str
    name_correct: bool
    arguments_exact: bool | None  # None where the reference calls no tool
    errors: tuple[str, ...]  # wrong_tool, bad_json, missing_argument, invented_argument, …


@dataclass(frozen=True)
class Confusion:
    labels: list[str]
    counts: list[list[int]]  # counts[i][j]: reference labels[i] predicted as labels[j]

    def count(self, reference: str, prediction: str) -> int:
        return self.counts[self.labels.index(reference)][self.labels.index(prediction)]


@dataclass(frozen=True)
class ToolCallReport:
    n: int
    tool_name_accuracy: float | None
    argument_exact_match: float | None
    argument_precision: float | None
    argument_recall: float | None
    argument_f1: float | None
    valid_json_rate: float | None
    schema_valid_rate: float | None
    confusion: Confusion
    per_tool: dict[str, dict[str, float | int | None]]
    examples: list[ToolExample] = field(repr=False)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_calls(answer: Answer) -> list[Call]:
    """The tool calls in an answer; text (or None) is no call."""
    if answer is None or isinstance(answer, str):
        return []
    calls = []
    for raw in answer:
        raw = raw.get("function", raw)
        arguments = raw.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                arguments = None
        calls.append(
            Call(
                str(raw.get("name", "")).strip(), arguments if isinstance(arguments, dict) else None
            )
        )
    return calls


def call_label(calls: Sequence[Call]) -> str:
    return "+".join(sorted(c.name for c in calls)) if calls else NO_TOOL


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def canonical(value: Any, norm: Normalization = Normalization()) -> Any:
    """A hashable form of an argument value; two values match when their forms are equal."""
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, int | float):
        return ("num", round(float(value), 9))
    if isinstance(value, str):
        number = unicodedata.normalize("NFKC", value).strip()  # "３００" is 300 too
        if norm.numeric_strings and _NUMBER.fullmatch(number):
            return ("num", round(float(number), 9))
        return ("str", _normalize_string(value, norm.strings))
    if isinstance(value, Mapping):
        return ("obj", tuple(sorted((str(k), canonical(v, norm)) for k, v in value.items())))
    if isinstance(value, Sequence):
        return ("list", tuple(canonical(v, norm) for v in value))
    return ("other", repr(value))


def _normalize_string(text: str, mode: str) -> str:
    if mode == "exact":
        return text
    if mode == "strip":
        return text.strip().casefold()
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch)[0] == "P"))


def validator_from_tools(tools: Sequence[Mapping]) -> Validator:
    """Validate arguments against JSON Schemas in the OpenAI `tools` shape (or bare functions)."""
    from jsonschema import Draft202012Validator

    checks = {}
    for tool in tools:
        fn = tool.get("function", tool)
        checks[fn["name"]] = Draft202012Validator(fn.get("parameters") or {"type": "object"})

    def validate(name: str, arguments: dict) -> bool:
        return name in checks and checks[name].is_valid(arguments)

    return validate


def tool_call_metrics(
    pairs: Sequence[tuple[Answer, Answer]],
    *,
    tools: Sequence[Mapping] | None = None,
    validator: Validator | None = None,
    normalization: Normalization = Normalization(),
) -> ToolCallReport:
    """Score (reference, prediction) pairs.

    Tool-name accuracy is a classification over labels incl. NO_TOOL, on every pair. Argument
    exact match counts only pairs whose reference calls a tool (right names, every argument
    equal). Precision/recall/F1 are micro over (tool, argument, value) triples. JSON and schema
    rates are over predicted calls; the schema rate needs `tools` or `validator`.
    """
    if validator is None and tools is not None:
        validator = validator_from_tools(tools)
    examples: list[ToolExample] = []
    triples = Counter()  # tp, predicted, reference
    n_calls = n_json = n_schema = 0
    for reference, prediction in pairs:
        ref, pred = parse_calls(reference), parse_calls(prediction)
        example, counts = _score_pair(ref, pred, normalization)
        examples.append(example)
        triples.update(counts)
        n_calls += len(pred)
        n_json += sum(c.arguments is not None for c in pred)
        if validator is not None:
            n_schema += sum(
                c.arguments is not None and validator(c.name, c.arguments) for c in pred
            )
    tp, n_pred, n_ref = triples["tp"], triples["pred"], triples["ref"]
    precision, recall = _ratio(tp, n_pred), _ratio(tp, n_ref)
    scored = [e.arguments_exact for e in examples if e.arguments_exact is not None]
    return ToolCallReport(
        n=len(examples),
        tool_name_accuracy=_mean([e.name_correct for e in examples]),
        argument_exact_match=_mean(scored),
        argument_precision=precision,
        argument_recall=recall,
        argument_f1=_ratio(2 * tp, n_pred + n_ref),
        valid_json_rate=_ratio(n_json, n_calls),
        schema_valid_rate=_ratio(n_schema, n_calls) if validator else None,
        confusion=_confusion(examples),
        per_tool=_per_tool(examples),
        examples=examples,
    )


def _score_pair(ref: list[Call], pred: list[Call], norm: Normalization) -> tuple[ToolExample, dict]:
    ref_label, pred_label = call_label(ref), call_label(pred)
    errors = []
    if ref_label != pred_label:
        errors.append("wrong_tool")
    if any(c.arguments is None for c in pred):
        errors.append("bad_json")
    ref_triples, pred_triples = _triples(ref, norm), _triples(pred, norm)
    exact = None
    if ref:
        exact = ref_label == pred_label and ref_triples == pred_triples and "bad_json" not in errors
    # Pair calls of the same tool in order to say what went wrong with their arguments.
    by_name = {name: [c for c in pred if c.name == name] for name in {c.name for c in pred}}
    for r in ref:
        p = by_name.get(r.name, [])
        if not p:
            continue
        got = p.pop(0).arguments
        if got is None:
            continue
        want = r.arguments or {}
        if want.keys() - got.keys():
            errors.append("missing_argument")
        if got.keys() - want.keys():
            errors.append("invented_argument")
        if any(
            canonical(want[k], norm) != canonical(got[k], norm) for k in want.keys() & got.keys()
        ):
            errors.append("wrong_value")
    tp = sum((ref_triples & pred_triples).values())
    counts = {"tp": tp, "pred": sum(pred_triples.values()), "ref": sum(ref_triples.values())}
    example = ToolExample(
        reference=ref_label,
        prediction=pred_label,
        name_correct=ref_label == pred_label,
        arguments_exact=exact,
        errors=tuple(dict.fromkeys(errors)),
    )
    return example, counts


def _triples(calls: list[Call], norm: Normalization) -> Counter:
    return Counter(
        (c.name, key, canonical(value, norm))
        for c in calls
        if c.arguments is not None
        for key, value in c.arguments.items()
    )


def _confusion(examples: list[ToolExample]) -> Confusion:
    seen = {e.reference for e in examples} | {e.prediction for e in examples}
    labels = sorted(seen - {NO_TOOL}) + ([NO_TOOL] if NO_TOOL in seen else [])
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for e in examples:
        counts[index[e.reference]][index[e.prediction]] += 1
    return Confusion(labels, counts)


def _per_tool(examples: list[ToolExample]) -> dict[str, dict[str, float | int | None]]:
    support = Counter(e.reference for e in examples)
    predicted = Counter(e.prediction for e in examples)
    correct = Counter(e.reference for e in examples if e.name_correct)
    return {
        label: {
            "support": support[label],
            "correct": correct[label],
            "accuracy": _ratio(correct[label], support[label]),  # recall of the class
            "precision": _ratio(correct[label], predicted[label]),
        }
        for label in sorted(support | predicted)
    }


# --- text answers ----------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_HAN_CHAR = re.compile(f"[{_HAN}]")
_ROUGE_TOKEN = re.compile(rf"[{_HAN}]|[^\W{_HAN}]+")


@dataclass(frozen=True)
class TextExample:
    exact: bool
    chrf: float
    rouge_l: float


@dataclass(frozen=True)
class TextReport:
    n: int
    exact_match: float | None
    bleu: float | None
    chrf: float | None
    rouge_l: float | None
    tokenize: str
    examples: list[TextExample] = field(repr=False)

    def to_dict(self) -> dict:
        return asdict(self)


def is_cjk(text: str) -> bool:
    """Does the text hold a CJK (Han) ideograph?"""
    return bool(_HAN_CHAR.search(text or ""))


def exact_match(reference: str, prediction: str) -> bool:
    """Equal after trimming and collapsing runs of whitespace."""
    return " ".join(reference.split()) == " ".join(prediction.split())


def rouge_tokens(text: str) -> list[str]:
    """Each Han character is a token, and each run of other letters or digits is a word
    (casefolded); punctuation is dropped. Chinese is thus scored per character, English per
    word, and mixed text both ways."""
    return _ROUGE_TOKEN.findall(text.casefold())


def lcs_length(a: Sequence, b: Sequence) -> int:
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(reference: str, prediction: str) -> float:
    """ROUGE-L F1 (beta 1) over `rouge_tokens`; two empty texts score 1."""
    ref, pred = rouge_tokens(reference), rouge_tokens(prediction)
    if not ref and not pred:
        return 1.0
    lcs = lcs_length(ref, pred)
    return 2 * lcs / (len(ref) + len(pred))


def bleu_tokenizer(texts: Sequence[str]) -> str:
    return "zh" if any(is_cjk(t) for t in texts) else "13a"


def bleu(
    references: Sequence[str], predictions: Sequence[str], *, tokenize: str | None = None
) -> float | None:
    """Corpus BLEU (0..100); tokenisation "zh" when any text holds Chinese, else "13a"."""
    _same_length(references, predictions)
    if not predictions:
        return None
    tokenize = tokenize or bleu_tokenizer([*references, *predictions])
    return BLEU(tokenize=tokenize).corpus_score(list(predictions), [list(references)]).score


def chrf(references: Sequence[str], predictions: Sequence[str]) -> float | None:
    """Corpus chrF (0..100, character 6-grams, beta 2; whitespace ignored)."""
    _same_length(references, predictions)
    if not predictions:
        return None
    return CHRF().corpus_score(list(predictions), [list(references)]).score


def text_metrics(pairs: Sequence[tuple[str, str]]) -> TextReport:
    """Score (reference, prediction) text pairs; per example: exact, sentence chrF, ROUGE-L."""
    references = [r for r, _ in pairs]
    predictions = [p for _, p in pairs]
    sentence_chrf = CHRF()
    examples = [
        TextExample(
            exact=exact_match(r, p),
            chrf=sentence_chrf.sentence_score(p, [r]).score,
            rouge_l=rouge_l(r, p),
        )
        for r, p in pairs
    ]
    return TextReport(
        n=len(pairs),
        exact_match=_mean([e.exact for e in examples]),
        bleu=bleu(references, predictions),
        chrf=chrf(references, predictions),
        rouge_l=_mean([e.rouge_l for e in examples]),
        tokenize=bleu_tokenizer([*references, *predictions]),
        examples=examples,
    )


def probe_drift(
    base: Sequence[str], tuned: Sequence[str], references: Sequence[str | None] | None = None
) -> dict[str, float | None]:
    """How far tuned answers to the forgetting probe moved from the base model's answers, and
    how each model's answers compare to the references where there are any."""
    _same_length(base, tuned)
    refs = list(references) if references is not None else [None] * len(base)
    _same_length(base, refs)
    have = [(r, b, t) for r, b, t in zip(refs, base, tuned, strict=True) if r]
    return {
        "n": len(base),
        "rouge_l_to_base": _mean([rouge_l(b, t) for b, t in zip(base, tuned, strict=True)]),
        "chrf_to_base": chrf(base, tuned),
        "base_rouge_l_to_reference": _mean([rouge_l(r, b) for r, b, _ in have]),
        "tuned_rouge_l_to_reference": _mean([rouge_l(r, t) for r, _, t in have]),
    }


# --- response time and cost ------------------------------------------------------------------


@dataclass(frozen=True)
class UsageReport:
    n: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_mean_ms: float | None
    tokens_per_s: float | None
    prompt_tokens_mean: float | None
    completion_tokens_mean: float | None
    cost_per_1k_hardware: float | None
    cost_per_1k_tokens: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks
    (Hyndman & Fan type 7, numpy's default): rank (n - 1) * q / 100 on the sorted values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def cost_per_1k_from_hardware(
    latencies_ms: Sequence[float], *, price_per_hour: float, parallel: int = 1
) -> float | None:
    """What 1,000 requests cost on hardware rented by the hour, at the mean latency, with
    `parallel` requests served at once (a batch of 8 → 8)."""
    if parallel < 1:
        raise ValueError(f"parallel must be 1 or more, got {parallel}")
    if not latencies_ms:
        return None
    seconds = statistics.fmean(latencies_ms) / 1000
    return price_per_hour * seconds * 1000 / 3600 / parallel


def cost_per_1k_from_tokens(
    prompt_tokens: Sequence[int],
    completion_tokens: Sequence[int],
    *,
    prompt_price_per_mtok: float,
    completion_price_per_mtok: float,
) -> float | None:
    """What 1,000 requests cost at per-million-token prices, at the mean token counts."""
    if not prompt_tokens or not completion_tokens:
        return None
    per_request = (
        statistics.fmean(prompt_tokens) * prompt_price_per_mtok
        + statistics.fmean(completion_tokens) * completion_price_per_mtok
    ) / 1e6
    return per_request * 1000


def usage_metrics(
    latencies_ms: Sequence[float],
    *,
    prompt_tokens: Sequence[int] = (),
    completion_tokens: Sequence[int] = (),
    price_per_hour: float | None = None,
    parallel: int = 1,
    prompt_price_per_mtok: float | None = None,
    completion_price_per_mtok: float | None = None,
) -> UsageReport:
    """Latency percentiles, throughput (completion tokens over total latency) and cost."""
    total_s = sum(latencies_ms) / 1000
    hardware = tokens = None
    if price_per_hour is not None:
        hardware = cost_per_1k_from_hardware(
            latencies_ms, price_per_hour=price_per_hour, parallel=parallel
        )
    if prompt_price_per_mtok is not None and completion_price_per_mtok is not None:
        tokens = cost_per_1k_from_tokens(
            prompt_tokens,
            completion_tokens,
            prompt_price_per_mtok=prompt_price_per_mtok,
            completion_price_per_mtok=completion_price_per_mtok,
        )
    return UsageReport(
        n=len(latencies_ms),
        latency_p50_ms=percentile(latencies_ms, 50),
        latency_p95_ms=percentile(latencies_ms, 95),
        latency_mean_ms=_mean(latencies_ms),
        tokens_per_s=sum(completion_tokens) / total_s if completion_tokens and total_s else None,
        prompt_tokens_mean=_mean(prompt_tokens),
        completion_tokens_mean=_mean(completion_tokens),
        cost_per_1k_hardware=hardware,
        cost_per_1k_tokens=tokens,
    )


@dataclass(frozen=True)
class LatencyBreakdown:
    """Where a request's time goes: until its first token (prefill, which a shorter prompt
    makes cheaper) and then per further output token (decode, which a longer answer pays
    for again and again)."""

    n: int
    first_token_p50_ms: float | None
    first_token_mean_ms: float | None
    decode_ms_per_token: float | None  # all decode time over all tokens after the first
    latency_p50_ms: float | None
    latency_mean_ms: float | None
    latency_p95_ms: float | None
    prompt_tokens_mean: float | None
    completion_tokens_p50: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def latency_breakdown(
    latencies_ms: Sequence[float],
    first_token_ms: Sequence[float],
    completion_tokens: Sequence[int],
    prompt_tokens: Sequence[int] = (),
) -> LatencyBreakdown:
    """Percentiles of whole requests, of their time to first token, and the decode time per
    output token, over requests timed one at a time."""
    _same_length(latencies_ms, first_token_ms)
    _same_length(latencies_ms, completion_tokens)
    decode_ms = sum(max(0.0, t - f) for t, f in zip(latencies_ms, first_token_ms, strict=True))
    decode_tokens = sum(max(0, c - 1) for c in completion_tokens)
    return LatencyBreakdown(
        n=len(latencies_ms),
        first_token_p50_ms=percentile(first_token_ms, 50),
        first_token_mean_ms=_mean(first_token_ms),
        decode_ms_per_token=decode_ms / decode_tokens if decode_tokens else None,
        latency_p50_ms=percentile(latencies_ms, 50),
        latency_mean_ms=_mean(latencies_ms),
        latency_p95_ms=percentile(latencies_ms, 95),
        prompt_tokens_mean=_mean(prompt_tokens),
        completion_tokens_p50=percentile(completion_tokens, 50),
    )


# --- significance ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedBootstrap:
    difference: float  # mean(a) - mean(b)
    low: float
    high: float
    p_value: float
    resamples: int
    confidence: float


@dataclass(frozen=True)
class WinRate:
    rate: float | None  # (wins + ties / 2) / judgements
    low: float | None
    high: float | None
    wins: int
    losses: int
    ties: int
    method: str


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedBootstrap:
    """Is mean(a) - mean(b) over the same examples more than noise?

    Resamples examples with replacement (the same indices for both). The interval is the
    percentile interval of the resampled differences; the two-sided p-value is the share of
    resampled differences, centred on the observed one, at least as far from it as the
    observed difference is from 0, with add-one smoothing: (1 + k) / (1 + resamples).
    """
    _same_length(a, b)
    if not a:
        raise ValueError("paired_bootstrap needs at least one example")
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    observed = float(diffs.mean())
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // len(diffs))  # bounds memory at ~16 MB of indices
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, len(diffs), size=(size, len(diffs)))
        means[start : start + size] = diffs[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    if observed == 0:
        p = 1.0
    else:
        extreme = int(np.sum(np.abs(means - observed) >= abs(observed) - 1e-12))
        p = (1 + extreme) / (1 + resamples)
    return PairedBootstrap(observed, float(low), float(high), p, resamples, confidence)


#: Significance level of the comparison's tests.
ALPHA = 0.05
#: Fewest pairs that differ on which the sign-flip test can reach p < ALPHA (2 / 2**6 < 0.05).
MIN_DIFFERING = 6
#: Up to this many differing pairs the sign-flip test enumerates every sign pattern.
EXACT_SIGN_FLIPS = 16


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of two contenders on the same examples.

    The interval is the paired bootstrap's; the p-value is the sign-flip (randomisation)
    test's: under "no difference" each pair's difference is as likely negative as positive.
    With m pairs that differ, the smallest p-value that test can give is 2 / 2**m, so below
    six differing pairs it cannot call anything significant at 5 % (`judgeable` is False),
    whatever the size of the gap.
    """

    n: int  # pairs
    differing: int  # pairs whose scores differ
    difference: float  # mean(a) - mean(b)
    low: float
    high: float
    p_value: float
    min_p_value: float  # the smallest p-value the test can give on these pairs
    judgeable: bool  # min_p_value < alpha
    significant: bool  # judgeable and p_value < alpha
    alpha: float
    confidence: float


def sign_flip_p(
    diffs: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """(two-sided p-value, smallest attainable p-value) of the paired sign-flip test.

    Exact (every sign pattern) up to EXACT_SIGN_FLIPS differing pairs, else `resamples`
    random patterns with add-one smoothing. Pairs with no difference carry no information
    and are left out; with none left p is 1.
    """
    d = np.asarray([x for x in diffs if x != 0], dtype=float)
    m = len(d)
    if m == 0:
        return 1.0, 1.0
    observed = abs(d.sum()) - 1e-9 * max(1.0, float(np.abs(d).sum()))
    smallest = min(1.0, 2.0 / 2.0**m)
    if m <= EXACT_SIGN_FLIPS:
        patterns = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1) * 2 - 1
        return float(np.mean(np.abs(patterns @ d) >= observed)), smallest
    rng = np.random.default_rng(seed)
    extreme, chunk = 0, max(1, 2_000_000 // m)
    for start in range(0, resamples, chunk):
        signs = rng.integers(0, 2, size=(min(chunk, resamples - start), m)) * 2 - 1
        extreme += int(np.sum(np.abs(signs @ d) >= observed))
    return (1 + extreme) / (1 + resamples), max(smallest, 1 / (1 + resamples))


def paired_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    alpha: float = ALPHA,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedTest:
    """Is mean(a) - mean(b) over the same examples more than noise? See PairedTest."""
    interval = paired_bootstrap(a, b, seed=seed, confidence=confidence)
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    p, smallest = sign_flip_p(diffs, seed=seed)
    judgeable = smallest < alpha
    return PairedTest(
        n=len(diffs),
        differing=sum(d != 0 for d in diffs),
        difference=interval.difference,
        low=interval.low,
        high=interval.high,
        p_value=p,
        min_p_value=smallest,
        judgeable=judgeable,
        significant=judgeable and p < alpha,
        alpha=alpha,
        confidence=confidence,
    )


def win_rate(
    *,
    wins: int,
    losses: int,
    ties: int = 0,
    confidence: float = 0.95,
    method: Literal["wilson", "bootstrap"] = "wilson",
    resamples: int = 2000,
    seed: int = 0,
) -> WinRate:
    """Win rate of A over B from blind judgements, a tie counting half a win.

    "wilson": the Wilson score interval with the half-counted rate as the proportion and all
    judgements as trials (ties thus widen rather than narrow it). "bootstrap": the percentile
    interval of the rate over judgements resampled with replacement.
    """
    if min(wins, losses, ties) < 0:
        raise ValueError("wins, losses and ties must not be negative")
    n = wins + losses + ties
    if n == 0:
        return WinRate(None, None, None, 0, 0, 0, method)
    rate = (wins + ties / 2) / n
    if method == "wilson":
        z = statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)
        centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
        low, high = max(0.0, centre - half), min(1.0, centre + half)
    elif method == "bootstrap":
        scores = np.array([1.0] * wins + [0.0] * losses + [0.5] * ties)
        idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
        alpha = (1 - confidence) / 2
        low, high = (float(x) for x in np.quantile(scores[idx].mean(axis=1), [alpha, 1 - alpha]))
    else:
        raise ValueError(f'unknown win-rate method "{method}"; use "wilson" or "bootstrap"')
    return WinRate(rate, low, high, wins, losses, ties, method)


# --- helpers ---------------------------------------------------------------------------------


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if len(values) else None


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"the two sequences must pair up, got {len(a)} and {len(b)} items")
