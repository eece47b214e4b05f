"""Export snapshots: immutable files plus a manifest, with a seeded, sticky train/test split.

A snapshot is written once into EXPORT_DIR/<project>/<id>/ and never rewritten: files are
written into a temporary folder and renamed into place only when every row was written, so
a failed export leaves nothing behind. Rows stream from the database in chunks and go
through the format's own row writer (`dump`), so memory stays flat on large projects.

Splits: a record keeps the split it was first exported in (`split_locked`). Records without
a split are assigned by a seeded rule: within each stratum (the answer's tool name in
tool-calling projects, else one stratum) the stratum's test share is topped up to
round(n * test_ratio) with the unassigned records that rank first by a hash of the seed and
their content hash; the rest go to train. The same seed and records give the same split on
any database.

Corrected drafts: a preference export (alpaca_preference, trl_preference, openai_dpo,
messages_preference) turns a record that holds no chosen/rejected pair, but whose answer
differs from its latest model draft, into a pair: chosen = the human answer, rejected = the
draft. Records with neither are left out and listed in the manifest (`left_out`).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, Func, Max, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast
from django.db.models.sql.constants import MULTI
from django.utils import timezone

from core.errors import InvalidInput
from curation import export_writer, formats, helper_process, record_content
from curation.formats.base import FormatError, Row
from curation.models import AuditEvent, Draft, ExportSnapshot, Project, Record
from curation.record_queries import RecordFilter, filter_records
from curation.rows import ROW_FIELDS

SPLITS = export_writer.SPLITS
PREFERENCE_FORMATS = frozenset(
    ("alpaca_preference", "trl_preference", "openai_dpo", "messages_preference")
)
CHUNK = 2000
#: Most ids one statement lists (SQLite allows 32766 parameters, PostgreSQL 65535).
MAX_IN_LIST = 30_000
MAX_ERRORS = export_writer.MAX_ERRORS
#: Exports this large write their files in a helper process (below, not worth its start-up).
HELPER_PROCESS_RECORDS = 20_000
MANIFEST = "manifest.json"
DATASET_INFO = "dataset_info.json"
HF_DIR = "hf_dataset"
_CHOSEN = ROW_FIELDS.index("chosen")
_PK = len(ROW_FIELDS)  # in a value tuple (see _value_chunks)
_PK_BITS = (1 << 64) - 1
_JSON_FIELDS = frozenset(
    f.name for f in Record._meta.concrete_fields if f.get_internal_type() == "JSONField"
)
# The writer decodes exactly the JSON columns that the query casts to text.
assert {ROW_FIELDS[i] for i in export_writer.JSON_POSITIONS} == _JSON_FIELDS & set(ROW_FIELDS)
# Rows are built positionally from ROW_FIELDS, so the two must keep the same order.
assert [f.name for f in fields(Row)][: len(ROW_FIELDS)] == list(ROW_FIELDS)


class ExportFailed(InvalidInput):
    """No snapshot was written; `errors` names the first MAX_ERRORS rows that do not fit."""

    def __init__(self, format_name: str, errors: list[dict], more: bool) -> None:
        count = f"{len(errors)}{'+' if more else ''}"
        super().__init__(
            f"Nothing was exported: {count} record(s) cannot be written as {format_name}, "
            f"the first: {errors[0]['text']}",
            hint=errors[0]["hint"] or "choose a format that holds these records",
        )
        self.errors = errors
        self.more = more


def writable_formats() -> list[str]:
    return [name for name, m in formats.FORMATS.items() if "write" in m.CAPABILITIES]


@cache
def tunedesk_version() -> str:
    with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def snapshot_dir(snapshot: ExportSnapshot) -> Path:
    return Path(settings.DATA_DIR) / snapshot.directory


def snapshot_file(snapshot: ExportSnapshot, split: str) -> Path:
    """The absolute path of one split's file ("train", "test" or "all")."""
    for entry in snapshot.files:
        if entry["split"] == split:
            return Path(settings.DATA_DIR) / entry["path"]
    raise InvalidInput(
        f"snapshot #{snapshot.pk} has no {split!r} file",
        hint="choose one of " + ", ".join(e["split"] for e in snapshot.files),
    )


def record_download(snapshot: ExportSnapshot, user, name: str, *, via: str) -> None:
    """Audit who took a snapshot's file (`via` "web" or "api"): data leaving Tunedesk."""
    AuditEvent.objects.create(
        actor=user if getattr(user, "pk", None) else None,
        project_id=snapshot.project_id,
        action="download",
        target=f"snapshot #{snapshot.pk}",
        data={"file": name, "via": via},
    )


def _check(format_name: str, status: Iterable[str], test_ratio: float, template: str | None):
    if format_name not in writable_formats():
        raise InvalidInput(
            f'"{format_name}" is not a format Tunedesk can export',
            hint="choose one of " + ", ".join(writable_formats()),
        )
    unknown = [s for s in status if s not in Record.Status.values]
    if unknown or not status:
        raise InvalidInput(
            f"{unknown[0] if unknown else 'no status'!r} is not a record status",
            hint="choose from " + ", ".join(Record.Status.values),
        )
    if not 0 <= test_ratio < 1:
        raise InvalidInput(
            f"the test ratio {test_ratio} is outside 0 to 1", hint="use e.g. 0.1 for 10% test"
        )
    if template is not None:
        from curation.formats.template_text import check_template

        try:
            check_template(template)
        except FormatError as e:
            raise InvalidInput(e.message, hint=e.hint, where="template") from None


# --- splits ----------------------------------------------------------------------------------


@dataclass
class SplitPlan:
    """Which records without a split go to test (the rest of them go to train)."""

    to_test: frozenset[int]
    records: int


class SplitPlanner:
    """Plans the split of every record that has none yet (see the module docstring) from the
    value tuples of all the exported records as they stream past (`add` each chunk), so the
    plan needs no pass of its own; nothing is written until apply_splits."""

    def __init__(self, *, seed: int, test_ratio: float, stratify: bool) -> None:
        self.test_ratio, self.stratify = test_ratio, stratify
        # The rank is blake2b(f"{seed}:{content_hash}"), ties broken by pk, as one int (the
        # digest's bits above the pk's: ints sort faster than tuples); the seed's part of the
        # hash is computed once.
        self._seeded = hashlib.blake2b(f"{seed}:".encode(), digest_size=8)
        self._strata: dict[str, list] = {}  # tool name: [records, already test, open ranks]
        self._records = 0
        self._plan: SplitPlan | None = None

    def add(self, chunk: list[tuple]) -> None:
        strata, seeded, stratify = self._strata, self._seeded, self.stratify
        from_bytes = int.from_bytes
        self._records += len(chunk)
        for item in chunk:
            pk, split, digest, tool = item[_PK:]
            stratum = strata.get(tool if stratify else "")
            if stratum is None:
                stratum = strata[tool if stratify else ""] = [0, 0, []]
            stratum[0] += 1
            if split == "test":
                stratum[1] += 1
            elif not split:
                rank = seeded.copy()
                rank.update(digest.encode())
                stratum[2].append(from_bytes(rank.digest()) << 64 | pk)

    def plan(self) -> SplitPlan:
        """The plan, once every record was added."""
        if self._plan is None:
            to_test: list[int] = []
            for n, test, ranks in self._strata.values():
                need = max(0, int(n * self.test_ratio + 0.5) - test)
                ranks.sort()
                to_test += [rank & _PK_BITS for rank in ranks[:need]]
            self._plan = SplitPlan(frozenset(to_test), self._records)
        return self._plan


def apply_splits(records: QuerySet[Record], plan: SplitPlan) -> None:
    """Write the planned splits and lock every record of `records` in its split."""
    if len(plan.to_test) <= MAX_IN_LIST:
        # One statement, so each record is rewritten once (SQLite writes whole rows).
        records.filter(Q(split="") | Q(split_locked=False)).update(
            split=Case(
                When(split="", pk__in=sorted(plan.to_test), then=Value(Record.Split.TEST)),
                When(split="", then=Value(Record.Split.TRAIN)),
                default=F("split"),
            ),
            split_locked=True,
        )
        return
    to_test = sorted(plan.to_test)
    for start in range(0, len(to_test), MAX_IN_LIST):
        Record.objects.filter(pk__in=to_test[start : start + MAX_IN_LIST]).update(
            split=Record.Split.TEST, split_locked=True
        )
    records.filter(split="").update(split=Record.Split.TRAIN, split_locked=True)
    records.filter(split_locked=False).update(split_locked=True)


# --- rows ------------------------------------------------------------------------------------


def corrected_pair(row: Row, draft: Draft) -> Row | None:
    """The row as a preference pair (chosen = human answer, rejected = the draft), or None
    when the row has no answer or the draft says the same."""
    rejected = record_content.draft_message(draft.tool_calls, draft.text)
    human = record_content.answer_run(row)
    if not human or record_content.same_answer(record_content.merge(human), rejected):
        return None
    if row.kind == Record.Kind.INSTRUCTION:
        return replace(row, output=None, chosen=human, rejected=[rejected], meta={})
    prompt = record_content.prompt_of(row)
    return replace(row, messages=prompt, chosen=human, rejected=[rejected], meta={})


def _latest_drafts(pks: list[int]) -> dict[int, Draft]:
    latest: dict[int, Draft] = {}
    for draft in Draft.objects.filter(record_id__in=pks).order_by(
        "record_id", "-created_at", "-id"
    ):
        latest.setdefault(draft.record_id, draft)
    return latest


def export_rows(
    records: QuerySet[Record],
    *,
    preference: bool,
    left_out: list[int] | None = None,
    planner: SplitPlanner | None = None,
) -> Iterator[tuple[str, Row]]:
    """(split, row) per record in id order; for preference formats, corrected drafts become
    pairs and records without a pair are appended to `left_out` instead. With a `planner`,
    every record goes through it and one without a split keeps the split OPEN (for
    export_writer.write_files to settle with the plan); without, it takes "train"."""
    builder = export_writer.RowBuilder(None if planner else frozenset())
    for chunk in _value_chunks(records):
        if planner:
            planner.add(chunk)
        if not preference:
            yield from builder.rows(chunk)
            continue
        pks = [item[_PK] for item in chunk if item[_CHOSEN] is None]
        drafts = _latest_drafts(pks)
        for split, row in builder.rows(chunk):
            if row.chosen is None:
                draft = drafts.get(row.index)
                pair = corrected_pair(row, draft) if draft else None
                if pair is None:
                    if left_out is not None:
                        left_out.append(row.index)
                    continue
                row = pair
            yield split, row


class _Utf8(Func):
    """A text column as its UTF-8 bytes on SQLite (CAST AS BLOB): the RowBuilder decodes it
    once, where it would otherwise be decoded here, pickled back to UTF-8 for the writer and
    decoded again there. As text on other databases."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        return compiler.compile(self.source_expressions[0])

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST({sql} AS BLOB)", params


def _value_chunks(records: QuerySet[Record]) -> Iterator[list[tuple]]:
    """Lists of value tuples in id order: export_writer's (ROW_FIELDS as text or UTF-8 bytes,
    JSON as JSON text; pk, split), then content_hash and tool_name for the SplitPlanner."""
    # JSON columns come as text and are decoded by the RowBuilder: Django's per-value JSON
    # converters cost more than the rest of an export together.
    columns = {
        name: _Utf8(Cast(name, TextField()) if name in _JSON_FIELDS else F(name))
        for name in ROW_FIELDS
    }
    values = (
        records.order_by("pk")
        .annotate(**{f"_x_{name}": expr for name, expr in columns.items()})
        .values_list(
            *(f"_x_{name}" for name in ROW_FIELDS), "pk", "split", "content_hash", "tool_name"
        )
    )
    # The lists of rows the cursor hands over, as .iterator() reads them (a server-side
    # cursor on PostgreSQL) but not passed on row by row: none of these text and integer
    # columns needs a converter on SQLite or PostgreSQL.
    compiler = values.query.get_compiler(using=values.db)
    yield from compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=CHUNK)


# --- snapshots -------------------------------------------------------------------------------


class WriterProcess:
    """export_writer.serve in a helper process: value chunks go in, then the split plan, and
    written files come out.

    Chunks and plan go through a spool file in the export's folder, not the pipe (which only
    announces them), so this process is never held up by the writer and goes on to lock the
    splits while the writer catches up; memory stays flat either side. Leaving the block
    stops the helper and removes the spool.
    """

    def __init__(self, format_name: str, template: str, folder: Path, tools: dict):
        self._spool_path = folder / export_writer.SPOOL
        self._spool = os.open(self._spool_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._offset = 0
        self._helper = helper_process.HelperProcess(
            export_writer.serve,
            (format_name, template, str(folder), tools),
            name="tunedesk-export-writer",
            doing="writing the export",
            crashed=WriterCrashed,
        )

    def send(self, chunk: list[tuple]) -> None:
        self._announce("rows", chunk)

    def plan(self, to_test: frozenset[int]) -> None:
        """The test split's planned pks: sent after the last chunk."""
        self._announce("plan", to_test)

    def _announce(self, kind: str, value) -> None:
        data = memoryview(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        start = self._offset
        while data:
            written = os.write(self._spool, data)
            data = data[written:]
            self._offset += written
        self._helper.send((kind, start, self._offset - start))

    def finish(self) -> tuple[dict[str, export_writer.WrittenFile], list[dict], bool]:
        """The written files, errors and whether there were more: after `plan`."""
        _, files, errors, more = self._helper.recv()
        return files, errors, more

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self._spool)
        self._spool_path.unlink(missing_ok=True)
        self._helper.close(wait=exc[0] is None)


class WriterCrashed(helper_process.HelperCrashed):
    """The helper process writing an export died or failed; nothing was exported."""


def _write(
    records: QuerySet[Record],
    count: int,
    *,
    seed: int,
    test_ratio: float,
    stratify: bool,
    format_name: str,
    template: str,
    folder: Path,
    left_out: list[int],
    helper_process: bool | None,
    tools: dict,
) -> tuple[dict[str, export_writer.WrittenFile], list[dict], bool]:
    """Write the files, planning the splits from the same pass over the records, then apply
    the plan (rolled back with the transaction when the files fail). With a helper process,
    applying overlaps with its writing."""
    preference = format_name in PREFERENCE_FORMATS
    if helper_process is None:
        helper_process = count >= HELPER_PROCESS_RECORDS
    planner = SplitPlanner(seed=seed, test_ratio=test_ratio, stratify=stratify)
    if preference or not helper_process:  # preference pairs need the drafts from the database
        rows = export_rows(records, preference=preference, left_out=left_out, planner=planner)
        result = export_writer.write_files(
            rows,
            export_writer.dumper(format_name, template, **tools),
            folder,
            lambda: planner.plan().to_test,
        )
        if not result[1]:
            apply_splits(records, planner.plan())
        return result
    with WriterProcess(format_name, template, folder, tools) as writer:
        for chunk in _value_chunks(records):
            planner.add(chunk)
            writer.send(chunk)
        plan = planner.plan()
        writer.plan(plan.to_test)
        apply_splits(records, plan)
        return writer.finish()


def _dataset_info(project: Project, snapshot_id: int, format_name: str, files: dict) -> dict:
    from curation.formats.llama_factory import dataset_info_entry

    info = {}
    for split in SPLITS:
        if files[split].rows:
            name = f"{project.slug}_{snapshot_id}_{split}"
            info[name] = dataset_info_entry(
                format_name, files[split].path.name, keys=files[split].keys
            )
    return info


def create_snapshot(
    project: Project,
    actor,
    *,
    format_name: str,
    status: Iterable[str] = (Record.Status.ACCEPTED,),
    filters: dict | None = None,
    test_ratio: float = 0.1,
    seed: int = 0,
    template: str | None = None,
    datasets: bool = False,
    tools: bool = True,
    helper_process: bool | None = None,
) -> ExportSnapshot:
    """Write an immutable snapshot of the project's records with `status` (and `filters`,
    RecordFilter parameters) in `format_name`; see the module docstring for the rules.

    `datasets=True` also saves a Hugging Face DatasetDict (train/test) under hf_dataset/.
    In a format with a tools field each row carries its tool schemas (its own, else the
    project's) unless `tools=False` leaves them all out (for a short-prompt style export).
    Exports of HELPER_PROCESS_RECORDS or more write their files in a helper process
    (`helper_process` forces the choice either way).
    """
    status = tuple(status)
    filters = {k: v for k, v in (filters or {}).items() if v}
    if format_name == "template_text" and template is None:
        template = project.prompt_template
    _check(format_name, status, test_ratio, template)
    try:
        record_filter = RecordFilter(**filters)
    except TypeError:
        raise InvalidInput(
            f"unknown filter in {sorted(filters)}",
            hint="use the record list's filters: " + ", ".join(RecordFilter().__dict__),
        ) from None
    records = filter_records(project, record_filter).filter(status__in=status)
    root = Path(settings.EXPORT_DIR) / project.slug
    root.mkdir(parents=True, exist_ok=True)
    final: Path | None = None
    tmp: Path | None = None
    try:
        with transaction.atomic():
            # Rows added while the export runs wait for the next one.
            found = records.aggregate(last=Max("pk"), count=Count("pk"))
            last = found["last"]
            if last is None:
                raise InvalidInput(
                    "no records match this export",
                    hint="check the statuses and filters (accepted records are exported by "
                    "default)",
                )
            records = records.filter(pk__lte=last)
            stratify = project.task_kind == Project.TaskKind.TOOL_CALLING
            snapshot = ExportSnapshot.objects.create(
                project=project,
                format=format_name,
                filters={"status": list(status), **filters},
                split_seed=seed,
                test_ratio=test_ratio,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            tmp = root / f".tmp-{snapshot.pk}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            left_out: list[int] = []
            tool_options = _tool_options(project, tools=tools)
            files, errors, more = _write(
                records,
                found["count"],
                seed=seed,
                test_ratio=test_ratio,
                stratify=stratify,
                format_name=format_name,
                template=template or "",
                folder=tmp,
                left_out=left_out,
                helper_process=helper_process,
                tools=tool_options,
            )
            if errors:
                raise ExportFailed(format_name, errors, more)
            if not files["all"].rows:
                raise InvalidInput(
                    f"none of the records holds a preference pair for {format_name}",
                    hint="export them in an SFT format, or correct model drafts first",
                )
            final = root / str(snapshot.pk)
            rel = Path(os.path.relpath(final, settings.DATA_DIR))
            manifest = _manifest(
                project, snapshot, actor, files, rel, stratify=stratify, left_out=left_out
            )
            manifest["tools"] = _tools_manifest(format_name, files, tools=tools)
            try:
                info = _dataset_info(project, snapshot.pk, format_name, files)
            except FormatError as e:
                manifest["dataset_info"] = {"written": False, "reason": str(e)}
            else:
                (tmp / DATASET_INFO).write_text(
                    json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
                )
                manifest["dataset_info"] = {"written": True, "file": DATASET_INFO}
            if datasets:
                _write_datasets(records, tmp / HF_DIR, format_name, tool_options)
                manifest["hf_dataset"] = HF_DIR
            (tmp / MANIFEST).write_text(
                json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
            snapshot.directory = str(rel)
            snapshot.counts = manifest["counts"]
            snapshot.files = manifest["files"]
            snapshot.manifest = manifest
            snapshot.save(update_fields=["directory", "counts", "files", "manifest"])
            AuditEvent.objects.create(
                actor=snapshot.created_by,
                project=project,
                action="export",
                target=f"snapshot #{snapshot.pk}",
                data={"format": format_name, "counts": snapshot.counts},
            )
            os.replace(tmp, final)
            tmp = None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if (
            final is not None
            and final.exists()
            and not ExportSnapshot.objects.filter(
                directory=str(Path(os.path.relpath(final, settings.DATA_DIR)))
            ).exists()
        ):
            shutil.rmtree(final, ignore_errors=True)
        raise
    return snapshot


def _manifest(project, snapshot, actor, files, rel: Path, *, stratify, left_out) -> dict:
    entries = [
        {
            "split": split,
            "path": str(rel / f.path.name),
            "rows": f.rows,
            "sha256": f.sha256,
        }
        for split, f in files.items()
    ]
    return {
        "tunedesk_version": tunedesk_version(),
        "project": project.slug,
        "snapshot": snapshot.pk,
        "format": snapshot.format,
        "filters": snapshot.filters,
        "split": {
            "seed": snapshot.split_seed,
            "ratios": {"train": round(1 - snapshot.test_ratio, 6), "test": snapshot.test_ratio},
            "stratified_by": "tool_name" if stratify else None,
            "sticky": "a record keeps the split of its first export",
        },
        "counts": {split: f.rows for split, f in files.items()},
        "files": entries,
        "left_out": {
            "count": len(left_out),
            "reason": "no chosen/rejected pair and no differing model draft",
            "records": left_out[:MAX_ERRORS],
        }
        if left_out
        else None,
        "created_by": getattr(actor, "username", None) or (str(actor) if actor else None),
        "created_at": timezone.now().isoformat(),
    }


def _tool_options(project: Project, *, tools: bool) -> dict:
    """export_writer.dumper's keyword arguments for the tool schemas."""
    return {"tools": project.tools or None} if tools else {"omit_tools": True}


def _tools_manifest(format_name: str, files: dict, *, tools: bool) -> dict:
    """What the manifest says of the tool schemas in the files."""
    if not getattr(formats.get(format_name), "HOLDS_TOOLS", False):
        return {"included": False, "reason": f"{format_name} has no field for tool schemas"}
    if not tools:
        return {"included": False, "reason": "left out on request (short-prompt style export)"}
    field = "tools (a JSON string)" if format_name.startswith("sharegpt") else "tools (a list)"
    return {
        "included": any("tools" in f.keys for f in files.values()),
        "field": field,
        "source": "each row's own tool schemas, else the project's",
    }


def _write_datasets(records, folder: Path, format_name: str, tools: dict) -> None:
    preference = format_name in PREFERENCE_FORMATS
    from curation.formats import hf_datasets

    fmt = format_name if hasattr(formats.get(format_name), "dump") else "openai_chat"
    rows = list(export_rows(records, preference=preference))
    try:
        hf_datasets.write_dataset(
            {split: [r for s, r in rows if s == split] for split in SPLITS},
            folder,
            fmt=fmt,
            dump=export_writer.dumper(fmt, "", **tools),
        )
    except FormatError as e:
        raise InvalidInput(f"the datasets copy failed: {e.message}", hint=e.hint) from None
