"""Child process of an import job: `python -m curation.import_entry <workdir>/import.json`.

The db_worker starts it through jobs.run_child (curation.uploads.run_import_job). It runs
curation.imports.import_file (all-or-nothing, or skipping bad rows) and reports through the
job's files: progress.jsonl (fraction of bytes read, rows read) and result.json (the report;
with the error when nothing was imported, then the exit status is 1). The uploaded file is
removed at the end either way. A cancel ends the process mid-import and the database rolls
the import back.

import.json: {"project", "actor", "path", "format", "skip_bad", "dedup", "status"}
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m curation.import_entry IMPORT.json", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import logging

    from django.contrib.auth import get_user_model

    from core.errors import CurationError
    from curation import imports
    from curation.models import Project
    from jobs.progress import ProgressWriter, write_result

    log = logging.getLogger("curation.imports")  # into job.log: how long publishing took
    log.addHandler(logging.StreamHandler(sys.stdout))
    log.setLevel(logging.INFO)
    config_path = Path(argv[0])
    workdir = config_path.parent
    config = json.loads(config_path.read_text(encoding="utf-8"))
    path = Path(config["path"])
    progress = ProgressWriter(workdir, total=1000)

    def on_progress(fraction: float, rows: int) -> None:
        progress.write(
            done=int(fraction * 1000), total=1000, fraction=round(fraction, 3), rows=rows
        )

    try:
        report = imports.import_file(
            Project.objects.get(pk=config["project"]),
            path,
            actor=get_user_model().objects.filter(pk=config["actor"]).first(),
            format_name=config["format"],
            skip_bad=config["skip_bad"],
            dedup=config["dedup"],
            status=config["status"],
            on_progress=on_progress,
        )
    except CurationError as e:
        report = getattr(e, "report", None)
        write_result(workdir, {"report": report.as_dict() if report else None}, error=e.as_dict())
        print(f"import failed: {e}", file=sys.stderr)
        return 1
    finally:
        path.unlink(missing_ok=True)
    write_result(workdir, {"report": report.as_dict()})
    print(f"imported {report.imported} of {report.read} rows", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
