"""Under the strict Content-Security-Policy, nothing a page does is refused: the browser
walks the main pages and works them (htmx save, A/B vote, filter, preview, language switch)
while listening for `securitypolicyviolation` events and CSP console errors."""

# ruff: noqa: F811 (fixtures shared with the comparison tests are imported, then requested by name)

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import Record
from tests.curation.annotate_fixtures import instruction_record
from tests.security.csp_pages import ANONYMOUS_PAGES, pages
from tests.training.conftest import tiny_model_dir  # noqa: F401 (fixture)
from tests.training.test_compare import (  # noqa: F401 (fixtures)
    data_dir,
    finished,
    run,
    snapshot,
    tiny_adapter,
)
from training.models import Judgement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script, outside the page's CSP; a violation becomes a console error.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(new_page):
    """(page, problems): every CSP violation, CSP console error and page error, with the URL."""
    page = new_page()
    page.add_init_script(REPORT_VIOLATIONS)
    problems: list[str] = []

    def on_console(message) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            problems.append(f"{page.url}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    return page, problems


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


def visit(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    page.wait_for_function("document.readyState === 'complete'")


def test_the_main_pages_and_their_htmx_actions_break_no_policy(project, people, finished, watched):
    page, problems = watched
    record = instruction_record(project, instruction="把这句话翻译成英文")
    walk = pages(
        slug=project.slug, record_pk=record.pk, run_pk=finished.run.pk, comparison_pk=finished.pk
    )
    for url in ANONYMOUS_PAGES.values():
        visit(page, url)
    log_in(page, "emil")
    for name, url in walk.items():
        visit(page, url)
        assert page.title(), name
    # Swagger UI draws the API from the schema (external bundle, split init script).
    visit(page, walk["api docs"])
    expect(page.locator("#swagger-ui .info .title")).to_contain_text("Tunedesk API")

    # The annotate editor: the form never submits natively; Save goes through htmx.
    visit(page, walk["annotate editor"])
    page.evaluate("document.querySelector('#editor').requestSubmit()")
    page.locator("#answer").fill("The weather is good today.")
    with page.expect_response(lambda r: r.url.endswith(f"/r/{record.pk}/save/")) as saved:
        page.locator("#btn-save").click()
    assert saved.value.ok
    assert page.url.endswith(walk["annotate editor"])
    record.refresh_from_db()
    assert record.output == "The weather is good today."

    # Blind A/B: the arrow key votes (static judge.js) and htmx swaps in the next card.
    visit(page, walk["comparison judge"])
    first = page.locator('#ab-form input[name="example"]').input_value()
    page.keyboard.press("ArrowLeft")
    expect(page.locator('#ab-form input[name="example"]')).not_to_have_value(first)
    assert Judgement.objects.filter(comparison=finished).count() == 1

    # The comparison report's htmx filter (hx-vals as JSON, no eval).
    visit(page, walk["comparison report"])
    with page.expect_response(lambda r: "part=examples" in r.url):
        page.locator('.cmp-filters input[name="failures"]').check()

    # The training preview: the indicator is styled from the stylesheet, the histogram's
    # bar heights come from data attributes.
    visit(page, walk["training"])
    page.select_option("#id_base_model", label="tiny-llama")  # the bundled model loads slowly
    with page.expect_response(lambda r: "/training/preview/" in r.url, timeout=30_000) as previewed:
        page.get_by_role("button", name="Preview preparation").click()
    assert previewed.value.ok, previewed.value.text()
    page.wait_for_function(
        """() => {
          const bars = document.querySelectorAll(".histogram .bar span[data-height]");
          return bars.length > 0
            && Array.from(bars).every((el) => el.style.height === `${el.dataset.height}%`);
        }"""
    )
    expect(page.locator("#preview-busy")).to_have_css("opacity", "0")

    # The language switch submits on change (static tunedesk.js).
    visit(page, walk["project home"])
    page.select_option("#language", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.select_option("#language", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    assert Record.objects.filter(pk=record.pk).exists()
    assert problems == []
