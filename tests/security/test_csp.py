"""The Content-Security-Policy is strict (no inline script, style or eval) and the pages keep
to it: no template or rendered page carries inline code."""

# ruff: noqa: F811 (fixtures shared with the comparison tests are imported, then requested by name)

from __future__ import annotations

from pathlib import Path

import pytest

from config.security import CSP
from tests.curation.annotate_fixtures import instruction_record
from tests.security.csp_pages import ANONYMOUS_PAGES, inline_code, pages
from tests.training.conftest import tiny_model_dir  # noqa: F401 (fixture)
from tests.training.test_compare import (  # noqa: F401 (fixtures)
    data_dir,
    finished,
    run,
    snapshot,
    tiny_adapter,
)

REPO = Path(__file__).resolve().parents[2]
#: The comparison's HTML export is a downloaded file (Content-Disposition: attachment) that
#: must open on its own, so it embeds its stylesheet; no page is served from it.
SELF_CONTAINED = {"training/compare/export.html"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.django_db
def test_the_policy_allows_no_inline_script_style_or_eval(client):
    policy = directives(client.get("/login/")["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    for sources in policy.values():
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert directives(CSP) == policy


def test_the_inline_finder_finds_each_kind_of_inline_code():
    html = (
        '<script>alert(1)</script><script src="/s.js"></script>'
        '<script type="application/json" id="d">{}</script>'
        '<select onchange="this.form.submit()"></select><div style="width: 5%"></div>'
        '<style>p {}</style><a href="javascript:void(0)">x</a><b hx-on:click="x()"></b>'
        "<form hx-vals='js:{a: 1}'></form>"
    )
    found = " | ".join(inline_code(html))
    for what in ("<script>", "onchange", "style=", "<style>", "javascript:", "hx-on", "hx-vals"):
        assert what in found
    assert len(inline_code(html)) == 7


def test_no_template_carries_inline_code():
    offenders = {}
    for path in sorted((REPO / "templates").rglob("*.html")):
        name = path.relative_to(REPO / "templates").as_posix()
        if name not in SELF_CONTAINED and (found := inline_code(path.read_text(encoding="utf-8"))):
            offenders[name] = found
    assert offenders == {}


@pytest.fixture
def walk(project, people, finished):
    record = instruction_record(project, instruction="把这句话翻译成英文")
    return pages(
        slug=project.slug, record_pk=record.pk, run_pk=finished.run.pk, comparison_pk=finished.pk
    )


@pytest.mark.django_db
def test_the_main_pages_render_without_inline_code(client_for, walk):
    client = client_for("engineer")
    offenders = {}
    for name, url in walk.items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, response.status_code)
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        if found := inline_code(response.content.decode()):
            offenders[name] = found
    assert offenders == {}


@pytest.mark.django_db
@pytest.mark.parametrize("name", ANONYMOUS_PAGES)
def test_the_login_pages_render_without_inline_code(client, name):
    response = client.get(ANONYMOUS_PAGES[name])
    assert response.status_code == 200
    assert inline_code(response.content.decode()) == []
