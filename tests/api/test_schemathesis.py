"""Fuzz the API from its own OpenAPI schema against a live server, as an engineer with a
token: no answer may be a 5xx, and every answer must match the schema (status code,
content type, body)."""

from __future__ import annotations

import io
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 30


@pytest.fixture
def fuzz_target(live_server, project, people, shared_data):
    """The live server's schema, a token, and real records for the paths to point at."""
    from core.tokens import issue_token
    from curation import imports
    from curation.formats import alpaca

    rows = json.loads((shared_data / "alpaca_zh_demo.json").read_text(encoding="utf-8"))[:30]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    imports.import_rows(
        project,
        alpaca.read(io.StringIO(text)),
        actor=people["engineer"],
        format_name="alpaca",
    )
    return {
        "token": issue_token(people["engineer"], name="fuzzing")[1],
        "records": list(project.records.values_list("pk", flat=True)),
        "slug": project.slug,
        "url": live_server.url,
    }


def test_the_api_holds_to_its_schema_under_fuzzing(fuzz_target):
    headers = {"Authorization": f"Token {fuzz_target['token']}"}
    schema = schemathesis.openapi.from_url(f"{fuzz_target['url']}/api/schema/", headers=headers)
    tried, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case):
            nonlocal tried
            tried += 1
            _aim(case, fuzz_target)
            case.call_and_validate(base_url=fuzz_target["url"], headers=headers, checks=CHECKS)

        try:
            fuzz()
        except Exception as e:  # every failing operation is reported, not only the first
            failures.append(f"{operation.label}: {e}")
    print(f"schemathesis: {tried} cases over {len(list(schema.get_all_operations()))} operations")
    assert not failures, "\n\n".join(failures)


def _aim(case, target) -> None:
    """Point half the cases at the real project and records, so fuzzed bodies reach the
    services and not only the 404 of a random slug."""
    params = case.path_parameters or {}
    if "slug" in params and hash(str(case.body)) % 2 == 0:
        params["slug"] = target["slug"]
    if "pk" in params and "/records/" in case.path and hash(str(case.query)) % 2 == 0:
        params["pk"] = target["records"][hash(str(case.body)) % len(target["records"])]
