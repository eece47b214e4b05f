"""What the strict Content-Security-Policy forbids in a page, and the pages to walk for it.

Shared by the rendered-HTML test (tests/security/test_csp.py) and the browser walk
(tests/browser/test_csp.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from django.urls import reverse

#: <script type=...> values a browser does not run (data blocks such as json_script's).
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}
HANDLER = re.compile(r"^on[a-z]+$")


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        line = self.getpos()[0]
        if tag == "script" and not attributes.get("src"):
            if (attributes.get("type") or "").lower() not in DATA_SCRIPT_TYPES:
                self.found.append(f"line {line}: inline <script>")
        if tag == "style":
            self.found.append(f"line {line}: inline <style>")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if HANDLER.match(name):
                self.found.append(f"line {line}: <{tag} {name}=...>")
            elif name == "style":
                self.found.append(f"line {line}: <{tag} style=...>")
            elif name.startswith(("hx-on", "data-hx-on")) or name in ("hx-vars", "data-hx-vars"):
                self.found.append(f"line {line}: <{tag} {name}=...> (htmx eval)")
            elif name in ("hx-vals", "data-hx-vals") and value.startswith(("js:", "javascript:")):
                self.found.append(f"line {line}: <{tag} {name}=js:...> (htmx eval)")
            elif name in ("href", "src", "action", "formaction") and value.startswith(
                "javascript:"
            ):
                self.found.append(f"line {line}: <{tag} {name}=javascript:...>")


def inline_code(html: str) -> list[str]:
    """Each inline script, style, on* handler, style attribute, javascript: URL and htmx eval
    attribute in `html`, as 'line N: what'; empty when the page keeps to the policy."""
    finder = _InlineFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def pages(*, slug: str, record_pk: int, run_pk: int, comparison_pk: int) -> dict[str, str]:
    """Name -> URL of the main pages, for a user who is a staff engineer of the project."""
    return {
        "project list": reverse("curation:project_list"),
        "project home": reverse("curation:project_home", args=[slug]),
        "records": reverse("curation:records", args=[slug]),
        "queue": reverse("curation:annotate_queue", args=[slug]),
        "dashboard": reverse("curation:dashboard", args=[slug]),
        "annotate editor": reverse("curation:record_edit", args=[record_pk]),
        "import": reverse("curation:data_import", args=[slug]),
        "export": reverse("curation:data_export", args=[slug]),
        "training": reverse("training:runs", args=[slug]),
        "training run": reverse("training:run", args=[slug, run_pk]),
        "drafting": reverse("training:drafting", args=[slug]),
        "comparisons": reverse("training:comparisons", args=[slug]),
        "comparison report": reverse("training:comparison", args=[slug, comparison_pk]),
        "comparison judge": reverse("training:comparison_judge", args=[slug, comparison_pk]),
        "api tokens": reverse("api_tokens"),
        "change password": reverse("password_change"),
        "new project": reverse("curation:project_new"),
        "project settings": reverse("curation:project_settings", args=[slug]),
        "project tools": reverse("curation:project_tools", args=[slug]),
        "project members": reverse("curation:project_members", args=[slug]),
        "api docs": reverse("api_docs"),
        "api browsable": reverse("api:projects") + "?format=api",
        "admin": reverse("admin:index"),
    }


#: Pages an anonymous visitor sees.
ANONYMOUS_PAGES = {"login": "/login/", "admin login": "/admin/login/"}
