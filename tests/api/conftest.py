from __future__ import annotations

import io
import json

import pytest


@pytest.fixture
def alpaca_rows(shared_data) -> list[dict]:
    return json.loads((shared_data / "alpaca_zh_demo.json").read_text(encoding="utf-8"))


@pytest.fixture
def records(project, people, alpaca_rows):
    """Twenty instruction records from the real Alpaca demo, imported as the engineer."""
    from curation import imports
    from curation.formats import alpaca

    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in alpaca_rows[:20])
    rows = alpaca.read(io.StringIO(text))
    imports.import_rows(project, rows, actor=people["engineer"], format_name="alpaca")
    return list(project.records.order_by("id"))
