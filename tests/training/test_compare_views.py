"""The comparison pages: who may do what, the report and its exports, the blind A/B page."""

# ruff: noqa: F811 (fixtures shared with test_compare are imported, then requested by name)

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys

import pytest
from django.urls import reverse

from curation.models import Record
from tests.training.test_compare import (  # noqa: F401 (fixtures)
    data_dir,
    finished,
    run,
    scripted,
    snapshot,
    tiny_adapter,
)
from training import compare
from training.models import Comparison, Judgement


def url(name: str, comparison: Comparison, **kwargs) -> str:
    return reverse(f"training:{name}", args=[comparison.project.slug, comparison.pk], kwargs=kwargs)


def test_outsiders_learn_nothing(scripted, client_for):
    client = client_for("outsider")
    assert client.get(reverse("training:comparisons", args=["shop"])).status_code == 404
    for name in ("comparison", "comparison_judge"):
        assert client.get(url(name, scripted)).status_code == 404
    export = reverse("training:comparison_export", args=["shop", scripted.pk, "json"])
    assert client.get(export).status_code == 404


def test_annotators_see_no_comparisons(scripted, client_for):
    client = client_for("annotator")
    assert client.get(reverse("training:comparisons", args=["shop"])).status_code == 403
    assert client.get(url("comparison_judge", scripted)).status_code == 403


def test_reviewers_judge_but_neither_read_the_report_nor_launch(scripted, client_for, run):
    client = client_for("reviewer")
    listing = client.get(reverse("training:comparisons", args=["shop"]))
    assert listing.status_code == 200
    assert url("comparison_judge", scripted) in listing.content.decode()
    assert f'href="{url("comparison", scripted)}"' not in listing.content.decode()
    assert client.get(url("comparison", scripted)).status_code == 403
    export = reverse("training:comparison_export", args=["shop", scripted.pk, "csv"])
    assert client.get(export).status_code == 403
    launch = reverse("training:comparison_launch", args=["shop"])
    assert (
        client.post(launch, {"run": run.pk, "max_new_tokens": 8, "batch_size": 1}).status_code
        == 403
    )
    failures = url("comparison_failures", scripted)
    assert client.post(failures, {"contender": "base"}).status_code == 403
    assert client.get(url("comparison_judge", scripted)).status_code == 200


def test_engineers_launch_a_comparison_of_a_run(run, client_for):
    client = client_for("engineer")
    launch = reverse("training:comparison_launch", args=["shop"])
    response = client.post(
        launch, {"run": run.pk, "limit": 2, "max_new_tokens": 8, "batch_size": 1}
    )
    comparison = Comparison.objects.get()
    assert response.status_code == 302 and response.url == url("comparison", comparison)
    assert [c["name"] for c in comparison.contenders] == ["base", "tuned"]
    assert comparison.job.params["limit"] == 2 and comparison.job.kind == "compare"


def test_the_report_says_how_it_ran_and_where_a_requests_time_goes(finished, client_for):
    page = client_for("engineer").get(url("comparison", finished)).content.decode()
    assert "tuned: LoRA adapter merged for inference" in page
    assert re.search(r"base: \d+ of \d+ requests timed alone gave the same answer", page)
    assert "time goes (one request at a time)" in page and "tuned against base" in page
    assert "probe answers miss" in page or "probe answers hit" in page


def test_the_launch_form_offers_the_row_limit_and_the_probe_toggle(run, client_for):
    # seen: "test rows = 8" from the page ran 96 generations, the probe could not be turned off
    client = client_for("engineer")
    page = client.get(reverse("training:comparisons", args=["shop"])).content.decode()
    assert 'name="limit"' in page
    assert re.search(r'<input type="checkbox" name="probe"[^>]*checked', page)  # on by default
    launch = reverse("training:comparison_launch", args=["shop"])
    form = {"run": run.pk, "limit": 8, "max_new_tokens": 8, "batch_size": 16}
    client.post(launch, form)  # a browser leaves an unticked box out
    client.post(launch, form | {"probe": "on"})
    without, with_probe = Comparison.objects.order_by("pk")
    assert without.job.params["probe"] is False and with_probe.job.params["probe"] is True
    assert without.job.params["limit"] == with_probe.job.params["limit"] == 8
    assert compare.child_config(without)["probe"] is None
    assert compare.child_config(with_probe)["probe"]["contenders"] == ["base", "tuned"]


def test_the_launch_form_toggles_the_bfcl_probe_and_says_how_to_install_it(
    run, client_for, monkeypatch
):
    client = client_for("engineer")
    page = client.get(reverse("training:comparisons", args=["shop"])).content.decode()
    box = re.search(r'<input type="checkbox" name="bfcl_probe"[^>]*>', page)
    assert box and "checked" not in box.group(0)  # off by default: it needs an extra package
    launch = reverse("training:comparison_launch", args=["shop"])
    form = {"run": run.pk, "limit": 8, "max_new_tokens": 8, "batch_size": 16}
    client.post(launch, form)
    monkeypatch.setitem(sys.modules, "bfcl_eval", None)  # as if bfcl-eval were not installed
    refused = client.post(launch, form | {"bfcl_probe": "on"})
    assert refused.status_code == 400 and Comparison.objects.count() == 1
    assert "pip install --no-deps -r requirements-nodeps.txt" in refused.content.decode()
    monkeypatch.undo()
    if importlib.util.find_spec("bfcl_eval") is None:
        pytest.skip("bfcl-eval is not installed (requirements-nodeps.txt)")
    client.post(launch, form | {"bfcl_probe": "on"})
    without, with_bfcl = Comparison.objects.order_by("pk")
    assert compare.child_config(without)["bfcl_probe"] is None
    probe = compare.child_config(with_bfcl)["bfcl_probe"]
    assert probe["rows"] == compare.BFCL_PROBE_ROWS and probe["category"] == "simple"
    assert probe["contenders"] == ["base", "tuned"]


def test_the_progress_says_which_phase_runs_and_no_eta_before_it_has_a_pace(finished, client_for):
    client = client_for("engineer")
    finished.job.status = "running"
    finished.job.metrics = {"phase": "latency", "contender": "tuned", "phase_done": 3}
    finished.job.metrics |= {"phase_total": 24, "eta_s": None}
    finished.job.save()
    fragment = client.get(url("comparison", finished), {"part": "progress"}, HTTP_HX_REQUEST="true")
    text = fragment.content.decode()
    assert "tuned: timing single requests (3 / 24)" in text
    assert "ETA once this phase has a pace" in text
    finished.job.metrics |= {"eta_s": 130.4}
    finished.job.save()
    fragment = client.get(url("comparison", finished), {"part": "progress"}, HTTP_HX_REQUEST="true")
    assert "ETA for this phase 2 min 10 s" in fragment.content.decode()


def test_the_report_shows_headline_charts_and_filtered_examples(scripted, client_for):
    client = client_for("engineer")
    page = client.get(url("comparison", scripted)).content.decode()
    for text in (
        "Turns that need a tool call",
        "Right tool called",
        "Turns that need no tool",
        "Called a tool anyway",
        "Time to first token p50",
        "Decode time per output token",
        "Whole request p50",
        "Prompt tokens",
        "(merged)",
    ):
        assert text in page, text
    assert "Cost per 1k requests" in page and page.count("<svg") == 2
    assert 'data-metric="tool_name_accuracy"' in page
    # each section names its n; on 4 examples no gap can be called significant
    assert "(n = 2)" in page and "too few to judge" in page and ">significant<" not in page
    assert re.search(r"Precision: (float32|bfloat16) \(auto: ", page) and "prefix cache on" in page
    all_rows = len(re.findall(r'<tr id="example-', page))
    assert all_rows == 4
    failures = client.get(url("comparison", scripted), {"failures": "on", "contender": "tuned"})
    failed = [e for e in json.loads(_export(client, scripted, "json"))["examples"]]
    expected = sum(e["outputs"]["tuned"]["failed"] for e in failed)
    assert len(re.findall(r'<tr id="example-', failures.content.decode())) == expected < 4
    by_tool = client.get(
        url("comparison", scripted),
        {"tool": "check_stock", "part": "examples"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<html" not in by_tool and len(re.findall(r'<tr id="example-', by_tool)) == 2


def test_the_progress_fragment_polls_until_the_job_ends(finished, client_for):
    client = client_for("engineer")
    finished.job.status = "running"
    finished.job.save()
    fragment = client.get(url("comparison", finished), {"part": "progress"}, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in fragment.content.decode()
    assert "HX-Refresh" not in fragment
    finished.job.status = "succeeded"
    finished.job.save()
    fragment = client.get(url("comparison", finished), {"part": "progress"}, HTTP_HX_REQUEST="true")
    assert fragment["HX-Refresh"] == "true"


def _export(client, comparison: Comparison, fmt: str) -> str:
    response = client.get(reverse("training:comparison_export", args=["shop", comparison.pk, fmt]))
    assert response.status_code == 200
    assert f"comparison-{comparison.pk}.{fmt}" in response["Content-Disposition"]
    return response.content.decode()


def test_exports_carry_the_report_and_every_example(scripted, client_for):
    client = client_for("engineer")
    data = json.loads(_export(client, scripted, "json"))
    assert data["report"]["headline"] == scripted.report["headline"]
    assert len(data["examples"]) == 4 and data["win_rates"][0]["n"] == 0
    rows = list(csv.DictReader(io.StringIO(_export(client, scripted, "csv"))))
    assert len(rows) == 8 and {r["contender"] for r in rows} == {"base", "tuned"}
    assert {r["reference_label"] for r in rows} == {"check_stock", "(no tool)"}
    html = _export(client, scripted, "html")
    assert "<svg" in html and "Right tool called" in html and "不客气" in html
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r"<link|<script[^>]+src=|<img[^>]+src=\"http", html)


def test_the_blind_page_never_names_the_contenders(scripted, client_for, people):
    client = client_for("reviewer")
    names = ["base", "tuned", "tiny-llama", "adapter", "long prompt", "short prompt"]
    seen = set()
    for _ in range(3):
        page = client.get(url("comparison_judge", scripted)).content.decode()
        for name in names:
            assert not re.search(rf"\b{re.escape(name)}\b", page, re.I), name
        example = int(re.search(r'name="example" value="(\d+)"', page).group(1))
        seen.add(example)
        response = client.post(
            url("comparison_judge", scripted), {"example": example, "choice": "tie"}
        )
        assert response.status_code == 200
    judged = Judgement.objects.filter(comparison=scripted, judge=people["reviewer"])
    assert judged.count() == len(seen) == 3
    assert all({j.left, j.right} == {"base", "tuned"} for j in judged)


def test_a_judgement_with_a_bad_choice_is_refused(scripted, client_for):
    client = client_for("reviewer")
    response = client.post(url("comparison_judge", scripted), {"example": 0, "choice": "base"})
    assert response.status_code == 400
    assert not Judgement.objects.exists()


def test_the_report_shows_win_rates_from_judgements(scripted, client_for, people):
    from training import compare

    for index in range(3):
        left, _ = compare._ab_plan(scripted, people["reviewer"], index)
        choice = "left" if left == "tuned" else "right"
        compare.record_judgement(scripted, people["reviewer"], example=index, choice=choice)
    page = client_for("engineer").get(url("comparison", scripted)).content.decode()
    assert "3 losses" in page or "3 wins" in page


def test_one_click_sends_failures_to_the_queue(scripted, client_for):
    client = client_for("engineer")
    response = client.post(url("comparison_failures", scripted), {"contender": "base"})
    assert response.status_code == 302
    records = Record.objects.filter(tags__name=f"compare-failure:{scripted.pk}")
    assert records.count() == 2
    page = client.get(response.url).content.decode()
    assert "2 record(s) added to the annotation queue" in page


def test_the_project_nav_links_comparisons_for_reviewers_and_engineers(project, client_for):
    link = reverse("training:comparisons", args=["shop"])
    home = reverse("curation:project_home", args=["shop"])
    assert link in client_for("engineer").get(home).content.decode()
    assert link not in client_for("annotator").get(home).content.decode()


@pytest.mark.parametrize("fmt", ["xml"])
def test_an_unknown_export_format_is_404(scripted, client_for, fmt):
    client = client_for("engineer")
    export = reverse("training:comparison_export", args=["shop", scripted.pk, fmt])
    assert client.get(export).status_code == 404


def test_the_admin_lists_comparisons_with_their_report(scripted, admin_client):
    page = admin_client.get(reverse("admin:training_comparison_changelist")).content.decode()
    assert url("comparison", scripted) in page and "base, tuned" in page
    judgements = admin_client.get(reverse("admin:training_judgement_changelist"))
    assert judgements.status_code == 200
