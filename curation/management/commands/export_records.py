import json
import shutil
from pathlib import Path

from django.core.management.base import CommandError

from core.errors import CurationError
from curation.exports import (
    ExportFailed,
    create_snapshot,
    snapshot_dir,
    snapshot_file,
    writable_formats,
)
from curation.management.util import JsonCommand
from curation.models import Project, Record


def _statuses(values: list[str]) -> list[str]:
    return [s.strip() for value in values for s in value.split(",") if s.strip()]


class Command(JsonCommand):
    # Skip the system checks: they import every URL module (the API, training views), which
    # the benchmark showed to be a large share of a command's start-up.
    requires_system_checks = []
    help = (
        "Export a project's records as an immutable snapshot and copy it to --out: the --split "
        "file (default all) to a file path, or every file of the snapshot into a directory "
        "(an existing one, or a path ending in /). With --json the last line is a JSON summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--format", dest="format_name", required=True, choices=writable_formats()
        )
        parser.add_argument("--out", required=True, help="file or directory to write")
        parser.add_argument(
            "--status",
            action="append",
            help="record status to export, repeatable or comma-separated (default accepted)",
        )
        parser.add_argument("--split", choices=("train", "test", "all"), default="all")
        parser.add_argument("--test-ratio", type=float, default=0.1)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--template", help="prompt template for template_text")
        parser.add_argument(
            "--datasets", action="store_true", help="also save a Hugging Face DatasetDict"
        )
        parser.add_argument(
            "--no-tools",
            action="store_true",
            help="leave the tool schemas out of every row (short-prompt style export)",
        )
        parser.add_argument("--json", action="store_true", help="end with a JSON summary line")

    def handle(self, *args, project: str, format_name: str, out: str, **options):
        as_json = options["json"]
        status = _statuses(options["status"] or [Record.Status.ACCEPTED])
        try:
            target = Project.objects.filter(slug=project).first()
            if target is None:
                raise CurationError(f"there is no project {project!r}", hint="check the slug")
            snapshot = create_snapshot(
                target,
                None,
                format_name=format_name,
                status=status,
                test_ratio=options["test_ratio"],
                seed=options["seed"],
                template=options["template"],
                datasets=options["datasets"],
                tools=not options["no_tools"],
            )
        except ExportFailed as e:
            for error in e.errors:
                self.stderr.write(error["text"])
            self._fail(e, {"errors": e.errors, "more_errors": e.more}, as_json)
        except CurationError as e:
            self._fail(e, {}, as_json)
        copied = self._copy(snapshot, Path(out), options["split"], out.endswith(("/", "\\")))
        self.stdout.write(
            f"Snapshot #{snapshot.pk} ({format_name}): "
            + ", ".join(f"{split} {n}" for split, n in snapshot.counts.items())
            + f" rows, in {snapshot_dir(snapshot)}."
        )
        for path in copied:
            self.stdout.write(f"Wrote {path}")
        if as_json:
            summary = {
                "ok": True,
                "project": target.slug,
                "snapshot": snapshot.pk,
                "format": format_name,
                "counts": snapshot.counts,
                "directory": str(snapshot_dir(snapshot)),
                "files": snapshot.files,
                "out": [str(p) for p in copied],
                "left_out": snapshot.manifest.get("left_out"),
                "errors": [],
            }
            if len(copied) == 1:
                summary["sha256"] = next(
                    f["sha256"] for f in snapshot.files if f["split"] == options["split"]
                )
            self.stdout.write(json.dumps(summary, ensure_ascii=False))

    def _copy(self, snapshot, out: Path, split: str, as_dir: bool) -> list[Path]:
        if as_dir or out.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            source = snapshot_dir(snapshot)
            copied = []
            for path in sorted(source.iterdir()):
                target = out / path.name
                if path.is_dir():
                    shutil.copytree(path, target, dirs_exist_ok=True)
                else:
                    shutil.copyfile(path, target)
                copied.append(target)
            return copied
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(snapshot_file(snapshot, split), out)
        return [out]

    def _fail(self, error: CurationError, summary: dict, as_json: bool):
        if as_json:
            summary = {"ok": False, "error": error.as_dict(), "errors": [], **summary}
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
        raise CommandError(str(error))
