"""Records: list with the UI's filters, create one or many (through the import service), read,
update with a version check, take the next one, submit, accept, send back, bulk actions."""

from __future__ import annotations

import io
import json

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import permissions
from api.serializers import (
    BulkActionSerializer,
    ConflictTheirsSerializer,
    DraftSerializer,
    ImportReportSerializer,
    RecordBulkCreateSerializer,
    RecordCreateSerializer,
    RecordDetailSerializer,
    RecordFilterSerializer,
    RecordSerializer,
    SendBackSerializer,
    SubmitSerializer,
    UpdateSerializer,
    VersionSerializer,
    checked_state,
    paged,
)
from api.views.base import ApiView
from api.views.docs import CURSOR, ERROR_EXAMPLE, errors
from core.errors import InvalidInput, NotFound
from curation import imports, record_content, record_queries, workflow
from curation.models import Record, Role, content_hash
from curation.rows import row_content

TAGS = ["records"]

RECORD_EXAMPLE = {
    "id": 42,
    "project": "shop",
    "kind": "conversation",
    "system": "你是一个淘宝直播的助手。",
    "instruction": None,
    "input": None,
    "output": None,
    "history": None,
    "messages": [
        {"role": "user", "content": "这件T恤还有货吗？"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "check_stock", "arguments": '{"product": "T恤"}'},
                }
            ],
        },
    ],
    "tools": None,
    "chosen": None,
    "rejected": None,
    "extra": {},
    "status": "in_progress",
    "assignee": "anna",
    "split": "",
    "tags": [],
    "source": "api",
    "tool_name": "check_stock",
    "problems": [],
    "version": 3,
    "review_comment": "",
    "content_hash": "9f2c…",
    "created_at": "2025-01-01T00:00:00Z",
    "updated_at": "2025-01-01T00:05:00Z",
    "submitted_at": None,
    "submitted_by": None,
    "reviewed_at": None,
    "reviewed_by": None,
}
TOOL_STATE = {
    "mode": "tool",
    "tool": "check_stock",
    "arguments_json": '{"product": "T恤"}',
    "content": "",
    "call_id": "call_1",
    "arguments_as_text": True,
}
DETAIL_EXAMPLE = {**RECORD_EXAMPLE, "editor": {"kind": "tool_call", "state": TOOL_STATE}}
CONFLICT_EXAMPLE = OpenApiExample(
    "Conflict",
    value={
        "error": {
            "code": "stale",
            "message": "rita saved version 4 of this record after you opened it.",
            "where": "",
            "hint": "Compare both versions below, then keep yours on top of theirs or take theirs.",
            "mine": {"version": 3, "answer": {"role": "assistant", "content": "有货"}},
            "theirs": {"version": 4, "by": "rita", "answer": None, "record": RECORD_EXAMPLE},
        }
    },
    response_only=True,
    status_codes=["409"],
)


def _detail(request: Request, record: Record, status: int = 200) -> Response:
    return Response(RecordDetailSerializer(record, context={"request": request}).data, status)


def _read_rows(format_name: str, rows: list[dict]):
    """The rows through the format's own reader, as if they were lines of a JSONL file."""
    # ASCII escapes: the reader then refuses a lone surrogate with its line, as in a file.
    text = "".join(json.dumps(row) + "\n" for row in rows)
    return imports.rows_and_errors(io.StringIO(text), format_name, mapping=None)


def _stale(record: Record, user, e: workflow.EditConflict, *, version: int, state: dict):
    """Keep the refused state as work in progress, and put both versions in the error."""
    workflow.keep_conflicting_work(record, user, version=version, state=state)
    e.api_extra = {
        "mine": {"version": version, "answer": record_content.answer(record, e.mine)},
        "theirs": ConflictTheirsSerializer(
            {
                "version": e.theirs.version,
                "by": e.theirs_by,
                "answer": record_content.answer(e.theirs),
                "record": e.theirs,
            }
        ).data,
    }
    return e


class RecordList(ApiView):
    @extend_schema(
        operation_id="records_list",
        summary="Records of a project, newest first, with the records page's filters",
        description="Needs the reviewer role, like the records page.",
        parameters=[RecordFilterSerializer, *CURSOR],
        responses={200: paged(RecordSerializer), **errors(400)},
        examples=[
            OpenApiExample(
                "Page", value={"next": None, "previous": None, "results": [RECORD_EXAMPLE]}
            )
        ],
        tags=TAGS,
    )
    def get(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.REVIEWER)
        params = RecordFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        records = record_queries.filter_records(project, params.to_filter())
        records = records.select_related("project", "assignee", "submitted_by", "reviewed_by")
        return self.paginate(records.prefetch_related("tags"), RecordSerializer)

    @extend_schema(
        operation_id="records_create",
        summary="Add one record, written in any importable format",
        description="Needs the engineer role. The row goes through the same reader and "
        "checks as a file import. A row the project already holds is not added twice: the "
        "answer is 200 with the existing record.",
        request=RecordCreateSerializer,
        responses={
            201: RecordDetailSerializer,
            200: OpenApiResponse(RecordDetailSerializer, description="Already there."),
            **errors(400, 413),
        },
        examples=[
            OpenApiExample(
                "Alpaca row",
                value={
                    "format": "alpaca",
                    "row": {
                        "instruction": "把这句话翻译成英文",
                        "input": "你好",
                        "output": "Hello",
                    },
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=DETAIL_EXAMPLE, response_only=True),
            ERROR_EXAMPLE,
        ],
        tags=TAGS,
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(RecordCreateSerializer)
        items = list(_read_rows(data["format"], [data["row"]]))
        if not items:
            raise InvalidInput(_("The row holds nothing to import."), where="row")
        for item in items:
            if isinstance(item, Exception):
                raise item
        digest = content_hash(row_content(items[0]))
        report = imports.import_rows(
            project,
            items,
            actor=request.user,
            format_name=data["format"],
            status=data["status"],
            source="api",
        )
        record = project.records.filter(content_hash=digest).order_by("-id").first()
        return _detail(request, record, 201 if report.imported else 200)


class RecordBulkCreate(ApiView):
    @extend_schema(
        operation_id="records_bulk_create",
        summary="Import many rows at once: all or nothing, or skipping bad rows",
        description="Needs the engineer role. Rows are read by the named format's reader, "
        "like the lines of a JSONL file; duplicates of records already in the project are "
        "counted, not added. On a bad row nothing is written (unless `skip_bad`), and the "
        "error's `report` lists the bad rows with their line (= index + 1) and a fix.",
        request=RecordBulkCreateSerializer,
        responses={201: ImportReportSerializer, **errors(400, 413)},
        examples=[
            OpenApiExample(
                "OpenAI chat rows",
                value={
                    "format": "openai_chat",
                    "rows": [
                        {
                            "messages": [
                                {"role": "user", "content": "还有货吗？"},
                                {"role": "assistant", "content": "有的。"},
                            ]
                        }
                    ],
                    "skip_bad": False,
                },
                request_only=True,
            ),
            OpenApiExample(
                "Report",
                value={
                    "project": "shop",
                    "format": "openai_chat",
                    "read": 1,
                    "imported": 1,
                    "duplicates": 0,
                    "flagged": 0,
                    "skipped": [],
                    "errors": [],
                    "ok": True,
                },
                response_only=True,
            ),
        ],
        tags=TAGS,
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(RecordBulkCreateSerializer)
        report = imports.import_rows(
            project,
            _read_rows(data["format"], data["rows"]),
            actor=request.user,
            format_name=data["format"],
            skip_bad=data["skip_bad"],
            status=data["status"],
            source=data["source"],
        )
        return Response(ImportReportSerializer(report).data, status=201)


class RecordBulkAction(ApiView):
    @extend_schema(
        operation_id="records_bulk_action",
        summary="Assign, tag, move to a split or send to review many records",
        description="assign and split need the engineer role, tag and review the reviewer "
        "role (as on the records page).",
        request=BulkActionSerializer,
        responses={200: OpenApiResponse(description="What was done, per action."), **errors(400)},
        examples=[
            OpenApiExample(
                "Tag", value={"action": "tag", "ids": [41, 42], "tag": "hard"}, request_only=True
            ),
            OpenApiExample("Tagged", value={"tagged": 2}, response_only=True),
        ],
        tags=TAGS,
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.REVIEWER)
        data = self.body(BulkActionSerializer)
        user, ids, action = request.user, data["ids"], data["action"]
        if action == "assign":
            people = None
            if name := data.get("assignee"):
                people = list(get_user_model().objects.filter(username=name))
                if not people:
                    raise NotFound(_("No user called %(name)s.") % {"name": name}, where="assignee")
            return Response(workflow.assign_records(project, user, ids, assignees=people))
        if action == "tag":
            return Response(
                {"tagged": workflow.tag_records(project, user, ids, tag=data.get("tag", ""))}
            )
        if action == "split":
            if "split" not in data:
                raise InvalidInput(
                    _("Say which split."), hint=_("train, test or ''"), where="split"
                )
            return Response(workflow.move_split(project, user, ids, split=data["split"]))
        return Response({"sent_to_review": workflow.send_to_review(project, user, ids)})


class NextRecord(ApiView):
    @extend_schema(
        operation_id="records_next",
        summary="Claim the next record of your queue",
        description="Your open claim first, then work sent back to you, work assigned to "
        "you, then the pool. 204 when the queue is empty. Edit it with PUT, then submit.",
        request=None,
        responses={
            200: RecordDetailSerializer,
            204: OpenApiResponse(description="Nothing left in your queue."),
            **errors(),
        },
        examples=[OpenApiExample("Claimed", value=DETAIL_EXAMPLE, response_only=True)],
        tags=TAGS,
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ANNOTATOR)
        record = workflow.next_record(project, request.user)
        if record is None:
            return Response(status=204)
        return _detail(request, record)


class RecordDetail(ApiView):
    @extend_schema(
        operation_id="records_retrieve",
        summary="One record, with its editor state",
        description="`editor.state` is what PUT and submit take back, edited; its shape "
        "depends on `editor.kind` (instruction, tool_call or conversation).",
        responses={200: RecordDetailSerializer, **errors()},
        examples=[OpenApiExample("Record", value=DETAIL_EXAMPLE)],
        tags=TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        return _detail(request, permissions.record(request, pk))

    @extend_schema(
        operation_id="records_update",
        summary="Save an edited answer, unless someone saved since `version`",
        description="Allowed to the annotator holding the record (take it with "
        "`/next/`) and to reviewers and engineers. On 409 your state is kept as work in "
        "progress and the error holds both versions (`mine`, `theirs`): merge, then PUT "
        "again with `theirs.version`.",
        request=UpdateSerializer,
        responses={200: RecordDetailSerializer, **errors(400, 409)},
        examples=[
            OpenApiExample("Save", value={"version": 3, "state": TOOL_STATE}, request_only=True),
            OpenApiExample("Saved", value={**DETAIL_EXAMPLE, "version": 4}, response_only=True),
            CONFLICT_EXAMPLE,
            ERROR_EXAMPLE,
        ],
        tags=TAGS,
    )
    def put(self, request: Request, pk: int) -> Response:
        record = permissions.record(request, pk)
        data = self.body(UpdateSerializer)
        state = checked_state(record, data["state"])
        try:
            record = workflow.save_record(
                record, request.user, version=data["version"], state=state
            )
        except workflow.EditConflict as e:
            raise _stale(record, request.user, e, version=data["version"], state=state) from None
        return _detail(request, record)


class RecordSubmit(ApiView):
    @extend_schema(
        operation_id="records_submit",
        summary="Submit for review (saving `state` first when given)",
        request=SubmitSerializer,
        responses={200: RecordDetailSerializer, **errors(400, 409)},
        examples=[
            OpenApiExample("Submit", value={"version": 4}, request_only=True),
            CONFLICT_EXAMPLE,
        ],
        tags=TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        record = permissions.record(request, pk)
        data = self.body(SubmitSerializer)
        state = checked_state(record, data["state"]) if "state" in data else None
        try:
            record = workflow.submit_record(
                record, request.user, version=data["version"], state=state
            )
        except workflow.EditConflict as e:
            raise _stale(
                record, request.user, e, version=data["version"], state=state or {}
            ) from None
        return _detail(request, record)


class RecordAccept(ApiView):
    @extend_schema(
        operation_id="records_accept",
        summary="Accept a submitted record (reviewers)",
        request=VersionSerializer,
        responses={200: RecordDetailSerializer, **errors(400, 409)},
        examples=[OpenApiExample("Accept", value={"version": 5}, request_only=True)],
        tags=TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        record = permissions.record(request, pk, Role.REVIEWER)
        data = self.body(VersionSerializer)
        return _detail(
            request, workflow.accept_record(record, request.user, version=data["version"])
        )


class RecordSendBack(ApiView):
    @extend_schema(
        operation_id="records_send_back",
        summary="Send a record back to its annotator with a comment (reviewers)",
        request=SendBackSerializer,
        responses={200: RecordDetailSerializer, **errors(400, 409)},
        examples=[
            OpenApiExample(
                "Send back",
                value={"version": 5, "comment": "商品名要写全称。"},
                request_only=True,
            )
        ],
        tags=TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        record = permissions.record(request, pk, Role.REVIEWER)
        data = self.body(SendBackSerializer)
        record = workflow.send_back(
            record, request.user, version=data["version"], comment=data["comment"]
        )
        return _detail(request, record)


class RecordDrafts(ApiView):
    @extend_schema(
        operation_id="records_drafts",
        summary="The model drafts of a record, newest first",
        parameters=CURSOR,
        responses={200: paged(DraftSerializer), **errors()},
        examples=[
            OpenApiExample(
                "Drafts",
                value={
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 7,
                            "record": 42,
                            "model_name": "smollm2-135m-instruct",
                            "text": '{"name": "check_stock", "arguments": {"product": "T恤"}}',
                            "parse_status": "tool_calls",
                            "tool_calls": [
                                {
                                    "function": {
                                        "name": "check_stock",
                                        "arguments": {"product": "T恤"},
                                    }
                                }
                            ],
                            "problems": [],
                            "settings": {"max_new_tokens": 192},
                            "latency_ms": 812.5,
                            "prompt_tokens": 240,
                            "completion_tokens": 21,
                            "job_id": 3,
                            "created_at": "2025-01-01T00:00:00Z",
                        }
                    ],
                },
            )
        ],
        tags=TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        record = permissions.record(request, pk)
        return self.paginate(record.drafts.all(), DraftSerializer)
