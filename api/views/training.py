"""Training runs, comparisons, drafting jobs and the jobs behind them (engineers, as in the UI)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import permissions
from api.serializers import (
    ComparisonCreateSerializer,
    ComparisonSerializer,
    DraftingCreateSerializer,
    JobSerializer,
    RunCreateSerializer,
    RunMetricsSerializer,
    RunSerializer,
    paged,
)
from api.views.base import ApiView
from api.views.docs import CURSOR, errors
from core.errors import NotFound
from curation import record_queries
from curation.models import ExportSnapshot, Role
from jobs import services as jobs
from jobs.models import Job
from training import compare, runs
from training.models import BaseModel, Comparison, TrainingRun

JOB_EXAMPLE = {
    "id": 12,
    "kind": "train",
    "project": "shop",
    "status": "running",
    "queue": "default",
    "done": 40,
    "total": 120,
    "percent": 33,
    "metrics": {"step": 40, "loss": 1.21, "tokens_per_second": 310.5},
    "result": {},
    "error": "",
    "log_tail": "",
    "cancel_requested": False,
    "created_by": "emil",
    "created_at": "2025-01-01T00:00:00Z",
    "started_at": "2025-01-01T00:00:02Z",
    "finished_at": None,
}
RUN_EXAMPLE = {
    "id": 3,
    "project": "shop",
    "snapshot": 5,
    "base_model": "smollm2-135m-instruct",
    "method": "sft",
    "config": {"epochs": 1, "lora_r": 16, "learning_rate": 0.0002},
    "adapter_path": "",
    "job": JOB_EXAMPLE,
    "created_by": "emil",
    "created_at": "2025-01-01T00:00:00Z",
}
COMPARISON_EXAMPLE = {
    "id": 2,
    "project": "shop",
    "run": 3,
    "snapshot": 5,
    "contenders": ["base", "tuned"],
    "job": {**JOB_EXAMPLE, "kind": "compare"},
    "created_by": "emil",
    "created_at": "2025-01-01T01:00:00Z",
}


def _named(model, name: str, where: str):
    obj = model.objects.filter(name=name).first()
    if obj is None:
        raise NotFound(
            _("No base model named %(name)s.") % {"name": name},
            where=where,
            hint=_("Register it in the admin under Base models."),
        )
    return obj


def _in_project(queryset, pk: int, project, where: str):
    obj = queryset.filter(pk=pk, project=project).first()
    if obj is None:
        raise NotFound(
            _("#%(pk)s is not in this project.") % {"pk": pk},
            where=where,
            hint=_("Use an id from this project's list."),
        )
    return obj


# --- runs ------------------------------------------------------------------------------------


class RunList(ApiView):
    @extend_schema(
        operation_id="runs_list",
        summary="Training runs of a project, newest first",
        parameters=CURSOR,
        responses={200: paged(RunSerializer), **errors()},
        examples=[
            OpenApiExample("Page", value={"next": None, "previous": None, "results": [RUN_EXAMPLE]})
        ],
        tags=["training"],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        runs_ = project.runs.select_related("project", "base_model", "job", "created_by")
        return self.paginate(runs_, RunSerializer)

    @extend_schema(
        operation_id="runs_create",
        summary="Launch a LoRA training run on a snapshot",
        description="The run is queued for a db_worker serving `queue`; follow it with "
        "GET /api/runs/{id}/ or /metrics/.",
        request=RunCreateSerializer,
        responses={201: RunSerializer, **errors(400)},
        examples=[
            OpenApiExample(
                "SFT",
                value={
                    "snapshot": 5,
                    "base_model": "smollm2-135m-instruct",
                    "method": "sft",
                    "config": {"epochs": 1},
                },
                request_only=True,
            ),
            OpenApiExample(
                "Queued",
                value={**RUN_EXAMPLE, "job": {**JOB_EXAMPLE, "status": "queued"}},
                response_only=True,
            ),
        ],
        tags=["training"],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(RunCreateSerializer)
        run = runs.launch_run(
            project,
            request.user,
            base_model=_named(BaseModel, data["base_model"], "base_model"),
            snapshot=_in_project(ExportSnapshot.objects, data["snapshot"], project, "snapshot"),
            method=data["method"],
            config=data["config"],
            queue=data["queue"],
        )
        return Response(RunSerializer(run).data, status=201)


class RunDetail(ApiView):
    @extend_schema(
        operation_id="runs_retrieve",
        summary="A run and its job's status",
        responses={200: RunSerializer, **errors()},
        examples=[OpenApiExample("Run", value=RUN_EXAMPLE)],
        tags=["training"],
    )
    def get(self, request: Request, pk: int) -> Response:
        run = permissions.in_project(request, TrainingRun.objects, pk, Role.ENGINEER)
        return Response(RunSerializer(run).data)


class RunCancel(ApiView):
    @extend_schema(
        operation_id="runs_cancel",
        summary="Stop a run (a queued one is cancelled at once)",
        request=None,
        responses={200: JobSerializer, **errors()},
        examples=[OpenApiExample("Cancelling", value={**JOB_EXAMPLE, "cancel_requested": True})],
        tags=["training"],
    )
    def post(self, request: Request, pk: int) -> Response:
        run = permissions.in_project(request, TrainingRun.objects, pk, Role.ENGINEER)
        return Response(JobSerializer(runs.cancel_run(run, request.user)).data)


class RunMetrics(ApiView):
    @extend_schema(
        operation_id="runs_metrics",
        summary="Loss curve, latest progress and final figures of a run",
        responses={200: RunMetricsSerializer, **errors()},
        examples=[
            OpenApiExample(
                "Metrics",
                value={
                    "run": 3,
                    "status": "succeeded",
                    "loss": [[1, 2.31], [2, 2.02]],
                    "eval_loss": [[2, 2.1]],
                    "latest": {"step": 2, "loss": 2.02},
                    "summary": {"train_loss": 2.1, "tokens_per_second": 305.2},
                },
            )
        ],
        tags=["training"],
    )
    def get(self, request: Request, pk: int) -> Response:
        run = permissions.in_project(request, TrainingRun.objects, pk, Role.ENGINEER)
        history = runs.loss_history(run)
        summary = runs.run_summary(run)
        body = {
            "run": run.pk,
            "status": summary["status"],
            "loss": history["loss"],
            "eval_loss": history["eval_loss"],
            "latest": run.job.metrics if run.job else {},
            "summary": summary,
        }
        return Response(RunMetricsSerializer(body).data)


# --- comparisons -----------------------------------------------------------------------------


class ComparisonList(ApiView):
    @extend_schema(
        operation_id="comparisons_list",
        summary="Comparisons of a project, newest first",
        parameters=CURSOR,
        responses={200: paged(ComparisonSerializer), **errors()},
        examples=[
            OpenApiExample(
                "Page", value={"next": None, "previous": None, "results": [COMPARISON_EXAMPLE]}
            )
        ],
        tags=["comparisons"],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        items = project.comparisons.select_related("project", "job", "created_by")
        return self.paginate(items, ComparisonSerializer)

    @extend_schema(
        operation_id="comparisons_create",
        summary="Compare a finished run against its base model on the snapshot's test split",
        description="Default contenders: `base` (the base model with the long prompt) and "
        "`tuned` (the adapter with the short prompt).",
        request=ComparisonCreateSerializer,
        responses={201: ComparisonSerializer, **errors(400)},
        examples=[
            OpenApiExample("Base vs tuned", value={"run": 3, "limit": 100}, request_only=True),
            OpenApiExample("Queued", value=COMPARISON_EXAMPLE, response_only=True),
        ],
        tags=["comparisons"],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(ComparisonCreateSerializer)
        run = _in_project(
            TrainingRun.objects.select_related("project", "snapshot", "base_model"),
            data.pop("run"),
            project,
            "run",
        )
        comparison = compare.compare_run(
            run, request.user, names=data.pop("contenders", None), **data
        )
        return Response(ComparisonSerializer(comparison).data, status=201)


class ComparisonDetail(ApiView):
    @extend_schema(
        operation_id="comparisons_retrieve",
        summary="A comparison and its job's status",
        responses={200: ComparisonSerializer, **errors()},
        examples=[OpenApiExample("Comparison", value=COMPARISON_EXAMPLE)],
        tags=["comparisons"],
    )
    def get(self, request: Request, pk: int) -> Response:
        comparison = permissions.in_project(request, Comparison.objects, pk, Role.ENGINEER)
        return Response(ComparisonSerializer(comparison).data)


class ComparisonReport(ApiView):
    @extend_schema(
        operation_id="comparisons_report",
        summary="The full report: headline metrics, significance, win rates, every example",
        description="The same JSON as the report page's export. `report` is empty until "
        "the job has succeeded.",
        responses={200: OpenApiResponse(description="The report as JSON."), **errors()},
        examples=[
            OpenApiExample(
                "Report",
                value={
                    "comparison": 2,
                    "project": "shop",
                    "snapshot": 5,
                    "run": 3,
                    "contenders": [{"name": "base"}, {"name": "tuned"}],
                    "report": {"examples": 100, "headline": []},
                    "win_rates": [],
                    "examples": [],
                },
            )
        ],
        tags=["comparisons"],
    )
    def get(self, request: Request, pk: int) -> Response:
        comparison = permissions.in_project(request, Comparison.objects, pk, Role.ENGINEER)
        return Response(compare.export_json(comparison))


# --- drafting and jobs -----------------------------------------------------------------------


class DraftingCreate(ApiView):
    @extend_schema(
        operation_id="drafting_create",
        summary="Let a model draft answers for records in the background",
        description="Drafts land beside the records (GET /api/records/{id}/drafts/); the "
        "records themselves are not changed. Follow the job at /api/jobs/{id}/.",
        request=DraftingCreateSerializer,
        responses={201: JobSerializer, **errors(400)},
        examples=[
            OpenApiExample(
                "Draft new records",
                value={
                    "model": "smollm2-135m-instruct",
                    "without_draft": True,
                    "filter": {"status": "new"},
                    "limit": 200,
                },
                request_only=True,
            ),
            OpenApiExample(
                "Queued",
                value={**JOB_EXAMPLE, "kind": "draft", "status": "queued"},
                response_only=True,
            ),
        ],
        tags=["drafting"],
    )
    def post(self, request: Request, slug: str) -> Response:
        from training import drafting

        project = permissions.project(request, slug, Role.ENGINEER)
        data = self.body(DraftingCreateSerializer)
        records = project.records.all()
        if data["without_draft"]:
            records = drafting.records_without_draft(project)
        if "filter" in data:
            f = record_queries.RecordFilter.from_params(data["filter"])
            records = records.filter(pk__in=record_queries.filter_records(project, f).values("pk"))
        job = drafting.start_drafting(
            project,
            request.user,
            model=_named(BaseModel, data["model"], "model"),
            records=records,
            settings_=drafting.DraftSettings(
                max_new_tokens=data["max_new_tokens"],
                temperature=data["temperature"],
                batch_size=data["batch_size"],
            ),
            limit=data.get("limit"),
            queue=data["queue"],
        )
        return Response(JobSerializer(job).data, status=201)


class JobDetail(ApiView):
    @extend_schema(
        operation_id="jobs_retrieve",
        summary="A background job's status and progress",
        responses={200: JobSerializer, **errors()},
        examples=[OpenApiExample("Job", value=JOB_EXAMPLE)],
        tags=["jobs"],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(
            JobSerializer(permissions.in_project(request, Job.objects, pk, Role.ENGINEER)).data
        )


class JobCancel(ApiView):
    @extend_schema(
        operation_id="jobs_cancel",
        summary="Stop a job (a queued one is cancelled at once)",
        request=None,
        responses={200: JobSerializer, **errors()},
        examples=[OpenApiExample("Cancelling", value={**JOB_EXAMPLE, "cancel_requested": True})],
        tags=["jobs"],
    )
    def post(self, request: Request, pk: int) -> Response:
        job = permissions.in_project(request, Job.objects, pk, Role.ENGINEER)
        run = TrainingRun.objects.filter(job=job).select_related("project").first()
        job = runs.cancel_run(run, request.user) if run else jobs.request_cancel(job)
        return Response(JobSerializer(job).data)
