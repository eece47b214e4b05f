import json
from pathlib import Path

from django.core.management.base import CommandError
from django.db import transaction

from core.errors import CurationError
from curation.imports import ImportFailed, import_file
from curation.management.util import JsonCommand
from curation.models import Project, Record
from curation.projects import create_project_for_file


class Command(JsonCommand):
    # Skip the system checks: they import every URL module (the API, training views), which
    # the benchmark showed to be a large share of a command's start-up.
    requires_system_checks = []
    help = (
        "Import a data file into a project: all-or-nothing unless --skip-bad; the format is "
        "detected unless --format names it. With --json the last line is a JSON summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", dest="format_name", help="format name (default: detect)")
        parser.add_argument("--skip-bad", action="store_true", help="import the good rows")
        parser.add_argument(
            "--create", action="store_true", help="create the project if it does not exist"
        )
        parser.add_argument(
            "--status",
            default=Record.Status.NEW,
            choices=Record.Status.values,
            help="status of the imported records (accepted for curated data)",
        )
        parser.add_argument(
            "--keep-duplicates",
            action="store_true",
            help="keep rows whose content is already in the project",
        )
        parser.add_argument(
            "--mapping", type=json.loads, help='CSV columns, e.g. {"output": "answer"}'
        )
        parser.add_argument("--json", action="store_true", help="end with a JSON summary line")

    def handle(self, *args, path: Path, project: str, **options):
        as_json = options["json"]
        try:
            with transaction.atomic():
                target = Project.objects.filter(slug=project).first()
                if target is None and not options["create"]:
                    raise CurationError(
                        f"there is no project {project!r}",
                        hint="create it in the app (New project), or pass --create",
                    )
                created = target is None
                if created:
                    target = create_project_for_file(
                        project,
                        path,
                        format_name=options["format_name"],
                        mapping=options["mapping"],
                    )
                report = import_file(
                    target,
                    path,
                    actor=None,
                    format_name=options["format_name"],
                    skip_bad=options["skip_bad"],
                    dedup=not options["keep_duplicates"],
                    status=options["status"],
                    mapping=options["mapping"],
                )
        except ImportFailed as e:
            for error in e.report.errors:
                self.stderr.write(error["text"])
            self._fail(e, {**e.report.as_dict(), "path": str(path)}, as_json)
        except CurationError as e:
            self._fail(e, {"ok": False, "project": project, "path": str(path)}, as_json)
        summary = {**report.as_dict(), "path": str(path), "created_project": created}
        if created:
            summary["task_kind"] = target.task_kind
            self.stdout.write(
                f"Created project {target.slug!r} ({target.get_task_kind_display()})."
            )
        if report.detected:
            self.stdout.write(f"Detected format {report.detected}: {report.reason}.")
        for skipped in report.skipped:
            self.stdout.write(f"Skipped {skipped['text']}")
        self.stdout.write(
            f"Imported {report.imported} of {report.read} rows into {target.slug!r} as "
            f"{report.format}: {report.duplicates} duplicates, {len(report.skipped)} skipped, "
            f"{report.flagged} flagged with tool-call problems."
        )
        if as_json:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))

    def _fail(self, error: CurationError, summary: dict, as_json: bool):
        if as_json:
            summary.update(ok=False, error=error.as_dict())
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        raise CommandError(str(error))
