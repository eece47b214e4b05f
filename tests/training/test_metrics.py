import math

import pytest

from training.metrics import (
    MIN_DIFFERING,
    NO_TOOL,
    Normalization,
    bleu,
    canonical,
    chrf,
    cost_per_1k_from_hardware,
    cost_per_1k_from_tokens,
    exact_match,
    is_cjk,
    latency_breakdown,
    lcs_length,
    paired_bootstrap,
    paired_test,
    parse_calls,
    percentile,
    probe_drift,
    rouge_l,
    rouge_tokens,
    sign_flip_p,
    text_metrics,
    tool_call_metrics,
    usage_metrics,
    win_rate,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties)[:1],
                "additionalProperties": False,
            },
        },
    }
    for name, properties in {
        "issue_coupon": {
            "amount": {"type": "integer"},
            "threshold": {"type": "integer"},
            "quantity": {"type": "integer"},
        },
        "list_product": {
            "product_name": {"type": "string"},
            "price": {"type": "number"},
            "stock": {"type": "integer"},
        },
        "check_stock": {"product_name": {"type": "string"}},
        "remove_product": {"product_name": {"type": "string"}},
        "pin_comment": {"content": {"type": "string"}},
        "answer_faq": {"topic": {"type": "string", "enum": ["shipping", "returns"]}},
    }.items()
]


def call(name, arguments):
    return [{"name": name, "arguments": arguments}]


# Six hand-scored pairs:
# 1 right tool, "50" == 50 (numeric strings on): exact; triples ref 3, pred 3, match 3
# 2 right tool, "空气炸锅 " == "空气炸锅" (bfcl), invented stock: ref 2, pred 3, match 2
# 3 wrong tool (check_stock → remove_product): ref 1, pred 1, match 0
# 4 text vs text: both "no tool", name correct, not scored for arguments
# 5 right tool, arguments not JSON: ref 1, pred 0, match 0
# 6 text reference, a tool predicted: wrong; ref 0, pred 1
PAIRS = [
    (
        call("issue_coupon", {"amount": 50, "threshold": 300, "quantity": 100}),
        call("issue_coupon", '{"amount": "50", "threshold": 300, "quantity": 100}'),
    ),
    (
        call("list_product", {"product_name": "空气炸锅", "price": 349}),
        call("list_product", {"product_name": "空气炸锅 ", "price": 349.0, "stock": 10}),
    ),
    (
        call("check_stock", {"product_name": "蓝牙耳机"}),
        call("remove_product", {"product_name": "蓝牙耳机"}),
    ),
    ("好的，优惠券面额是多少？", "请问面额多少？"),
    (
        call("pin_comment", {"content": "今晚8点抽奖"}),
        call("pin_comment", '{"content": "今晚8点抽奖"'),
    ),
    ("你好！", call("answer_faq", {"topic": "shipping"})),
]


def test_tool_name_accuracy_counts_no_tool_as_a_class():
    report = tool_call_metrics(PAIRS)
    assert report.tool_name_accuracy == pytest.approx(4 / 6)  # pairs 1, 2, 4, 5


def test_argument_exact_match_scores_only_pairs_whose_reference_calls_a_tool():
    report = tool_call_metrics(PAIRS)
    assert report.argument_exact_match == pytest.approx(1 / 4)  # pair 1 of pairs 1, 2, 3, 5
    assert [e.arguments_exact for e in report.examples] == [True, False, False, None, False, None]


def test_argument_precision_recall_f1_are_micro_over_triples():
    report = tool_call_metrics(PAIRS)
    # matched 3+2 = 5; predicted 3+3+1+1 = 8; referenced 3+2+1+1 = 7
    assert report.argument_precision == pytest.approx(5 / 8)
    assert report.argument_recall == pytest.approx(5 / 7)
    assert report.argument_f1 == pytest.approx(2 * 5 / (8 + 7))


def test_json_and_schema_rates_are_over_predicted_calls():
    report = tool_call_metrics(PAIRS, tools=TOOLS)
    assert report.valid_json_rate == pytest.approx(4 / 5)  # pair 5's arguments do not parse
    # invalid: pair 1 ("50" is no integer) and pair 5 (bad JSON)
    assert report.schema_valid_rate == pytest.approx(3 / 5)


def test_schema_rate_takes_a_validator_and_is_none_without_one():
    assert tool_call_metrics(PAIRS).schema_valid_rate is None
    only_coupons = tool_call_metrics(PAIRS, validator=lambda name, args: name == "issue_coupon")
    assert only_coupons.schema_valid_rate == pytest.approx(1 / 5)


def test_numeric_strings_can_be_told_apart_from_numbers():
    report = tool_call_metrics(PAIRS, normalization=Normalization(numeric_strings=False))
    assert report.argument_exact_match == 0
    assert report.argument_precision == pytest.approx(4 / 8)


def test_exact_string_mode_keeps_trailing_space_differences():
    report = tool_call_metrics(PAIRS, normalization=Normalization(strings="exact"))
    assert report.argument_precision == pytest.approx(4 / 8)  # "空气炸锅 " no longer matches


def test_confusion_matrix_puts_no_tool_last():
    confusion = tool_call_metrics(PAIRS).confusion
    assert confusion.labels[-1] == NO_TOOL
    assert confusion.count("check_stock", "remove_product") == 1
    assert confusion.count(NO_TOOL, "answer_faq") == 1
    assert confusion.count(NO_TOOL, NO_TOOL) == 1
    assert sum(map(sum, confusion.counts)) == len(PAIRS)


def test_per_tool_accuracy_and_precision():
    per_tool = tool_call_metrics(PAIRS).per_tool
    assert per_tool["check_stock"] == {
        "support": 1,
        "correct": 0,
        "accuracy": 0.0,
        "precision": None,
    }
    assert per_tool["remove_product"]["accuracy"] is None  # never the reference
    assert per_tool["remove_product"]["precision"] == 0.0
    assert per_tool[NO_TOOL]["accuracy"] == pytest.approx(1 / 2)


def test_errors_name_what_went_wrong():
    errors = [e.errors for e in tool_call_metrics(PAIRS).examples]
    assert errors == [
        (),
        ("invented_argument",),
        ("wrong_tool",),
        (),
        ("bad_json",),
        ("wrong_tool",),
    ]
    missing = tool_call_metrics(
        [
            (
                call("list_product", {"product_name": "A", "price": 1}),
                call("list_product", {"product_name": "B"}),
            )
        ]
    )
    assert missing.examples[0].errors == ("missing_argument", "wrong_value")


def test_parallel_calls_are_one_label_and_order_free():
    ref = call("check_stock", {"product_name": "A"}) + call("pin_comment", {"content": "x"})
    pred = list(reversed(ref))
    report = tool_call_metrics([(ref, pred)])
    assert report.examples[0].reference == "check_stock+pin_comment"
    assert report.tool_name_accuracy == 1 and report.argument_exact_match == 1


def test_openai_shaped_calls_are_read():
    calls = parse_calls(
        [{"id": "c1", "type": "function", "function": {"name": "x", "arguments": "{}"}}]
    )
    assert [(c.name, c.arguments) for c in calls] == [("x", {})]


def test_no_pairs_give_no_rates():
    report = tool_call_metrics([])
    assert report.n == 0
    assert report.tool_name_accuracy is None and report.argument_f1 is None
    assert report.confusion.labels == []


def test_all_text_pairs_have_no_argument_scores():
    report = tool_call_metrics([("a", "b"), ("c", "")])
    assert report.tool_name_accuracy == 1
    assert report.argument_exact_match is None and report.valid_json_rate is None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Air-Fryer ", "air fryer", True),
        ("“包邮”", "包邮", True),
        ("ＡＢＣ", "abc", True),  # full width
        ("300", 300, True),
        ("３００", 300.0, True),
        ("9.9", 9.9, True),
        ("9.9", 99, False),
        (True, 1, False),
        ([1, "a b"], [1, "AB"], True),
        ([1, 2], [2, 1], False),
        ({"x": "Y "}, {"x": "y"}, True),
    ],
)
def test_bfcl_normalisation(a, b, same):
    assert (canonical(a) == canonical(b)) is same


# --- text ---


def test_is_cjk_spots_chinese():
    assert is_cjk("iPhone 很好用") and not is_cjk("iPhone, café") and not is_cjk("")


def test_exact_match_ignores_outer_and_repeated_whitespace():
    assert (
        exact_match(" 北京 ", "北京") and exact_match("a  b", "a b") and not exact_match("a", "A")
    )


def test_rouge_l_is_character_level_for_chinese():
    # LCS 今天天气 = 4 of 6 and 6 characters: P = R = 4/6, F = 2/3
    assert rouge_l("今天天气很好", "今天天气不错") == pytest.approx(2 / 3)


def test_rouge_l_is_word_level_for_english():
    # the cat _ on the mat: LCS 5 words of 6 and 6 → F = 5/6; case and "." ignored
    assert rouge_l("the cat sat on the mat", "The cat is on the mat.") == pytest.approx(5 / 6)


def test_rouge_tokens_mix_characters_and_words():
    assert rouge_tokens("iPhone 15 很好用！") == ["iphone", "15", "很", "好", "用"]


def test_rouge_l_edge_cases():
    assert rouge_l("", "") == 1.0 and rouge_l("北京", "") == 0.0 and lcs_length("abc", "") == 0


def test_bleu_uses_zh_tokenisation_for_chinese():
    # one token per character; n-gram matches 4/6, 3/5, 2/4, 1/3; hypothesis as long as ref
    expected = 100 * (4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25  # 50.81
    assert bleu(["今天天气很好"], ["今天天气不错"]) == pytest.approx(expected)
    assert bleu(["今天天气很好"], ["今天天气不错"], tokenize="13a") == 0  # one word each


def test_bleu_uses_13a_for_english():
    # hyp 7 words, ref 6 (no brevity penalty); matches 6/7, 4/6, 3/5, 2/4
    expected = 100 * (6 / 7 * 4 / 6 * 3 / 5 * 2 / 4) ** 0.25  # 64.35
    assert bleu(["the cat sat on the mat"], ["the cat sat on the red mat"]) == pytest.approx(
        expected
    )


def test_chrf_on_chinese():
    # char n-gram precision = recall for n=1..6: 4/6, 3/5, 2/4, 1/3, 0, 0; mean 0.35
    assert chrf(["今天天气很好"], ["今天天气不错"]) == pytest.approx(35.0)


def test_text_metrics_report():
    report = text_metrics([("北京", "北京"), ("今天天气很好", "今天天气不错")])
    assert report.n == 2 and report.tokenize == "zh"
    assert report.exact_match == 0.5
    assert report.rouge_l == pytest.approx((1 + 2 / 3) / 2)
    assert report.examples[0].chrf == 100
    assert text_metrics([("hi there", "hi")]).tokenize == "13a"


def test_text_metrics_of_nothing_are_none():
    report = text_metrics([])
    assert (report.n, report.exact_match, report.bleu, report.chrf, report.rouge_l) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_bleu_rejects_unpaired_lists():
    with pytest.raises(ValueError, match="pair up"):
        bleu(["a"], [])


def test_probe_drift():
    drift = probe_drift(["北京", "4"], ["北京", "5"], ["北京", None])
    assert drift["rouge_l_to_base"] == 0.5  # 1 and 0
    assert drift["tuned_rouge_l_to_reference"] == 1.0  # only the first has a reference
    assert probe_drift([], [])["rouge_l_to_base"] is None


# --- latency and cost ---


def test_percentile_interpolates_between_closest_ranks():
    # ranks 0..3; p50 → rank 1.5 → 25; p95 → rank 2.85 → 30 + 0.85 * 10 = 38.5
    assert percentile([40, 10, 30, 20], 50) == 25
    assert percentile([40, 10, 30, 20], 95) == pytest.approx(38.5)
    assert percentile([7], 95) == 7 and percentile([], 50) is None
    with pytest.raises(ValueError, match="0..100"):
        percentile([1], 101)


def test_cost_from_an_hourly_price():
    # mean 2 s; 3.6 per hour = 0.001 per s → 0.002 a request → 2.0 per 1,000
    assert cost_per_1k_from_hardware([1000, 3000], price_per_hour=3.6) == pytest.approx(2.0)
    assert cost_per_1k_from_hardware([1000, 3000], price_per_hour=3.6, parallel=4) == pytest.approx(
        0.5
    )


def test_cost_from_token_prices():
    # means 200 prompt, 20 completion: (200 * 0.5 + 20 * 1.5) / 1e6 = 1.3e-4 → 0.13 per 1,000
    cost = cost_per_1k_from_tokens(
        [100, 300], [10, 30], prompt_price_per_mtok=0.5, completion_price_per_mtok=1.5
    )
    assert cost == pytest.approx(0.13)


def test_usage_metrics():
    report = usage_metrics(
        [1000, 3000],
        prompt_tokens=[100, 300],
        completion_tokens=[10, 30],
        price_per_hour=3.6,
    )
    assert report.latency_p50_ms == 2000 and report.prompt_tokens_mean == 200
    assert report.tokens_per_s == pytest.approx(40 / 4)
    assert report.cost_per_1k_hardware == pytest.approx(2.0) and report.cost_per_1k_tokens is None
    empty = usage_metrics([])
    assert empty.latency_p50_ms is None and empty.tokens_per_s is None


# --- significance ---


def test_paired_bootstrap_finds_a_clear_gap():
    result = paired_bootstrap([1] * 50, [0] * 50)
    assert result.difference == 1 and (result.low, result.high) == (1, 1)
    assert result.p_value == pytest.approx(1 / 2001)  # no centred resample reaches distance 1


def test_paired_bootstrap_calls_a_small_gap_noise():
    result = paired_bootstrap([1, 1, 1, 0, 0], [0, 1, 1, 0, 0])
    assert result.difference == pytest.approx(0.2)
    assert result.low <= 0 <= result.high and result.p_value > 0.05


def test_paired_bootstrap_of_equal_scores():
    result = paired_bootstrap([1, 0, 1], [1, 0, 1])
    assert (result.difference, result.low, result.high, result.p_value) == (0, 0, 0, 1)


def test_paired_bootstrap_is_seeded():
    a, b = [0.3, 0.9, 0.5, 0.7, 0.1], [0.2, 0.4, 0.6, 0.1, 0.3]
    assert paired_bootstrap(a, b, seed=1) == paired_bootstrap(a, b, seed=1)
    assert paired_bootstrap(a, b, seed=1) != paired_bootstrap(a, b, seed=2)


def test_paired_bootstrap_needs_paired_examples():
    with pytest.raises(ValueError, match="pair up"):
        paired_bootstrap([1], [1, 0])
    with pytest.raises(ValueError, match="at least one"):
        paired_bootstrap([], [])


def test_wilson_interval_for_a_win_rate():
    # 8 of 10, z = 1.96: centre (0.8 + z²/20) / (1 + z²/10) = 0.7167,
    # half width z / (1 + z²/10) * sqrt(0.016 + z²/400) = 0.2266 → [0.490, 0.943]
    result = win_rate(wins=8, losses=2)
    z = 1.959964
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.8 * 0.2 / 10 + z * z / 400)
    assert result.rate == 0.8
    assert (result.low, result.high) == pytest.approx((centre - half, centre + half), abs=1e-6)
    assert (round(result.low, 3), round(result.high, 3)) == (0.490, 0.943)


def test_ties_count_half():
    assert win_rate(wins=1, losses=1, ties=2).rate == 0.5
    assert win_rate(wins=3, losses=0, ties=2).rate == pytest.approx(4 / 5)


def test_all_ties_bootstrap_to_an_even_rate():
    result = win_rate(wins=0, losses=0, ties=6, method="bootstrap")
    assert (result.rate, result.low, result.high) == (0.5, 0.5, 0.5)


def test_win_rate_without_judgements_is_unknown():
    assert win_rate(wins=0, losses=0).rate is None


def test_win_rate_rejects_unknown_methods():
    with pytest.raises(ValueError, match="wilson"):
        win_rate(wins=1, losses=1, method="exact")


# --- the statistics rule ---------------------------------------------------------------------


def test_one_example_is_never_significant_however_large_the_gap():
    # seen in a report: chrF +1.7 "significant" with n = 1 and interval [+1.7, +1.7]
    result = paired_test([51.7], [50.0])
    assert result.n == 1 and (result.low, result.high) == pytest.approx((1.7, 1.7))
    assert result.p_value == 1.0 and not result.judgeable and not result.significant


def test_below_six_differing_pairs_the_sign_flip_test_cannot_judge():
    five = paired_test([1] * 5 + [0] * 30, [0] * 35)  # five wins, thirty ties
    assert five.n == 35 and five.differing == 5
    assert five.min_p_value == pytest.approx(2 / 32) and not five.judgeable
    assert not five.significant
    six = paired_test([1] * 6, [0] * 6)
    assert six.judgeable and six.p_value == pytest.approx(2 / 64) and six.significant
    assert MIN_DIFFERING == 6


def test_the_sign_flip_test_finds_a_clear_gap_and_calls_a_mixed_one_noise():
    clear = paired_test([1] * 30 + [0] * 10, [0] * 30 + [1] * 2 + [0] * 8)  # 30 wins, 2 losses
    assert clear.differing == 32 and clear.significant and clear.p_value < 0.001
    mixed = paired_test([1, 0, 1, 0, 1, 0, 1, 1], [0, 1, 0, 1, 0, 1, 0, 0])  # 5 wins, 3 losses
    assert mixed.judgeable and not mixed.significant and mixed.p_value > 0.3


def test_sign_flip_p_is_exact_on_few_pairs():
    # 3 differing pairs of +1: of the 8 sign patterns, 2 reach |sum| 3
    assert sign_flip_p([1, 1, 1, 0]) == (0.25, 0.25)
    assert sign_flip_p([0, 0]) == (1.0, 1.0)


# --- latency ---------------------------------------------------------------------------------


def test_latency_breakdown_splits_first_token_and_decode():
    result = latency_breakdown(
        [300.0, 500.0, 1100.0], [100.0, 100.0, 100.0], [11, 21, 51], [40, 40, 70]
    )
    assert result.n == 3 and result.first_token_p50_ms == 100.0
    assert result.decode_ms_per_token == pytest.approx((200 + 400 + 1000) / (10 + 20 + 50))
    assert (result.latency_p50_ms, result.latency_mean_ms) == (500.0, pytest.approx(633.333, 1e-3))
    assert result.completion_tokens_p50 == 21 and result.prompt_tokens_mean == 50
