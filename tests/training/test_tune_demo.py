"""`make tune-demo`: its defaults and the figures it prints for base and tuned."""

from __future__ import annotations

from training.config import RunConfig
from training.management.commands.tune_and_compare import DEMO_CONFIG, figure_lines


def test_the_demo_defaults_are_a_valid_run_config_with_replay_on():
    config = RunConfig.from_dict(DEMO_CONFIG)
    assert config.replay > 0 and config.prompt == "short"


def test_tune_demo_prints_the_figures_that_decide_shipping_for_both_contenders():
    contender = {
        "tool_name_accuracy": 0.9125,
        "argument_exact_match": 0.75,
        "schema_valid_rate": 1.0,
        "latency_p50_ms": 1812.4,
        "prompt_tokens_mean": 41.2,
    }
    result = {
        "contenders": [{"name": "base", **contender}, {"name": "tuned", **contender}],
        "probe": {"base_rouge_l_to_reference": 0.08, "tuned_rouge_l_to_reference": 0.072},
    }
    lines = figure_lines(result)
    assert len(lines) == 3
    for line, similarity in zip(lines, ("0.08", "0.072"), strict=False):
        for figure in ("91.2 %", "75.0 %", "schema-valid 100.0 %", "p50 1,812 ms", "tokens 41,"):
            assert figure in line
        assert f"probe ROUGE-L {similarity}" in line
    assert lines[2] == "probe similarity tuned/base: 0.90x (goal ≥ 0.8x)"


def test_the_turn_counts_and_false_calls_show_where_the_report_has_them():
    tuned = {"name": "tuned", "tool_name_accuracy": 0.9, "tool_turns": 80}
    tuned |= {"false_call_rate": 0.05, "no_tool_turns": 20}
    (line,) = figure_lines({"contenders": [tuned]})
    assert "tool-name accuracy 90.0 % (n=80)" in line
    assert "false calls 5.0 % (n=20)" in line


def test_without_a_probe_the_lines_say_so_instead_of_a_ratio():
    lines = figure_lines({"contenders": [{"name": "tuned"}], "probe": None})
    assert lines == [
        " tuned: tool-name accuracy –, argument exact match –, schema-valid –, p50 –, "
        "prompt tokens –, probe ROUGE-L –"
    ]
