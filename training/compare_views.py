"""Tune-and-compare pages: list and launch, the report and its exports, blind A/B judging."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import CurationError
from curation import selectors
from curation.models import Role
from jobs import services as jobs
from training import compare
from training.models import BaseModel, Comparison, Judgement, TrainingRun

EXAMPLES_PER_PAGE = 50


class LaunchForm(forms.Form):
    run = forms.ModelChoiceField(queryset=TrainingRun.objects.none(), label=_("Training run"))
    limit = forms.IntegerField(min_value=1, required=False, label=_("Test rows (empty: all)"))
    probe = forms.BooleanField(
        required=False,
        initial=True,
        label=_("Forgetting probe"),
        help_text=_("Also ask both models general questions, to see what tuning made it forget."),
    )
    bfcl_probe = forms.BooleanField(
        required=False,
        initial=False,
        label=_("BFCL probe"),
        help_text=_(
            "Also score both models on %(n)d cases of BFCL's simple category (general tool "
            "calling, by BFCL's rules). Needs: pip install --no-deps -r requirements-nodeps.txt"
        )
        % {"n": compare.BFCL_PROBE_ROWS},
    )
    max_new_tokens = forms.IntegerField(min_value=8, max_value=4096, initial=256)
    batch_size = forms.IntegerField(
        min_value=1,
        max_value=64,
        initial=compare.BATCH_SIZE,
        help_text=_("Answers generated at once. Latency is measured apart, one request at a time."),
    )
    http_model = forms.ModelChoiceField(
        queryset=BaseModel.objects.filter(kind=BaseModel.Kind.HTTP),
        required=False,
        label=_("Also an HTTP model"),
        help_text=_(
            "A third contender answered by an OpenAI-compatible endpoint of the model registry."
        ),
    )
    http_prompt = forms.ChoiceField(
        choices=[("long", _("long prompt")), ("short", _("short prompt"))],
        initial="long",
        required=False,
        label=_("Its prompt"),
    )

    def __init__(self, *args, project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["run"].queryset = project.runs.exclude(adapter_path="").select_related(
            "base_model"
        )

    def contenders(self) -> list[str] | None:
        """None (the defaults), or base, tuned and the HTTP model (named as registered)."""
        model = self.cleaned_data.get("http_model")
        if model is None:
            return None
        prompt = self.cleaned_data.get("http_prompt") or "long"
        return [*compare.DEFAULT_NAMES, f"{model.name}=model:{model.name},prompt:{prompt}"]


class FilterForm(forms.Form):
    disagreements = forms.BooleanField(required=False)
    failures = forms.BooleanField(required=False)
    tool = forms.CharField(required=False)
    contender = forms.CharField(required=False)
    page = forms.IntegerField(required=False, min_value=1)


def _comparison(request: HttpRequest, slug: str, pk: int, *, role: str) -> Comparison:
    project = selectors.project_for(request.user, slug, role=role)
    comparison = (
        Comparison.objects.select_related("job", "run", "snapshot")
        .filter(pk=pk, project=project)
        .first()
    )
    if comparison is None:
        raise Http404(_("No such comparison."))
    comparison.project = project
    return comparison


def comparison_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.REVIEWER)
    is_engineer = project.has_role(request.user, Role.ENGINEER)
    form = LaunchForm(project=project) if is_engineer else None
    return _list(request, project, form, is_engineer)


def _list(request, project, form, is_engineer, *, error=None, status=200) -> HttpResponse:
    context = {
        "project": project,
        "comparisons": project.comparisons.select_related("job", "run"),
        "form": form,
        "is_engineer": is_engineer,
        "error": error,
    }
    return render(request, "training/compare/list.html", context, status=status)


@require_POST
def comparison_launch(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    form = LaunchForm(request.POST, project=project)
    if not form.is_valid():
        return _list(request, project, form, True, status=400)
    data = form.cleaned_data
    try:
        comparison = compare.compare_run(
            data["run"],
            request.user,
            names=form.contenders(),
            limit=data["limit"],
            probe=data["probe"],
            bfcl_probe=compare.BFCL_PROBE_ROWS if data["bfcl_probe"] else 0,
            max_new_tokens=data["max_new_tokens"] or 256,
            batch_size=data["batch_size"] or compare.BATCH_SIZE,
        )
    except CurationError as e:
        return _list(request, project, form, True, error=e, status=e.status)
    return redirect("training:comparison", slug=slug, pk=comparison.pk)


def comparison_report(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    comparison = _comparison(request, slug, pk, role=Role.ENGINEER)
    if request.htmx and request.GET.get("part") == "progress":
        context = {"comparison": comparison, "progress": compare.progress_view(comparison.job)}
        response = render(request, "training/compare/report.html#progress", context)
        if comparison.job and comparison.job.is_finished:
            response["HX-Refresh"] = "true"  # the finished report replaces the progress bar
        return response
    filters = FilterForm(request.GET)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    examples = compare.examples_of(comparison)
    shown = compare.filter_examples(
        examples,
        disagreements=bool(chosen.get("disagreements")),
        failures=bool(chosen.get("failures")),
        tool=chosen.get("tool") or "",
        contender=chosen.get("contender") or "",
    )
    page = Paginator(shown, EXAMPLES_PER_PAGE).get_page(chosen.get("page") or 1)
    context = compare.report_context(comparison) | {
        "comparison": comparison,
        "project": comparison.project,
        "page": page,
        "shown": len(shown),
        "total": len(examples),
        "filters": chosen,
        "tools": sorted({e["reference_label"] for e in examples}),
        "query": request.GET.copy(),
    }
    template = "training/compare/report.html"
    if request.htmx and request.GET.get("part") == "examples":
        template += "#examples"
    return render(request, template, context)


@require_POST
def comparison_cancel(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    comparison = _comparison(request, slug, pk, role=Role.ENGINEER)
    if comparison.job:
        jobs.request_cancel(comparison.job)
    return redirect("training:comparison", slug=slug, pk=pk)


@require_POST
def comparison_failures(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    comparison = _comparison(request, slug, pk, role=Role.ENGINEER)
    try:
        sent = compare.send_failures_to_queue(
            comparison, request.user, contender=request.POST.get("contender", "")
        )
    except CurationError as e:
        messages.error(request, str(e))
    else:
        messages.success(
            request,
            _("%(n)d record(s) added to the annotation queue, tagged %(tag)s.")
            % {"n": sent["created"], "tag": sent["tag"]},
        )
    return redirect("training:comparison", slug=slug, pk=pk)


def comparison_export(request: HttpRequest, slug: str, pk: int, fmt: str) -> HttpResponse:
    comparison = _comparison(request, slug, pk, role=Role.ENGINEER)
    name = f"comparison-{comparison.pk}"
    if fmt == "json":
        response = JsonResponse(
            compare.export_json(comparison), json_dumps_params={"ensure_ascii": False}
        )
    elif fmt == "csv":
        response = HttpResponse(compare.export_csv(comparison), content_type="text/csv")
    elif fmt == "html":
        css_path = finders.find("css/tunedesk.css")
        context = compare.report_context(comparison) | {
            "comparison": comparison,
            "project": comparison.project,
            "examples": compare.examples_of(comparison),
            "css": open(css_path, encoding="utf-8").read() if css_path else "",
        }
        html = render_to_string("training/compare/export.html", context, request=None)
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
    else:
        raise Http404(_("Export as json, csv or html."))
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def comparison_judge(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    comparison = _comparison(request, slug, pk, role=Role.REVIEWER)
    error, status = None, 200
    if request.method == "POST":
        try:
            compare.record_judgement(
                comparison,
                request.user,
                example=int(request.POST.get("example", "-1")),
                choice=request.POST.get("choice", ""),
            )
        except (CurationError, ValueError) as e:
            error, status = e, getattr(e, "status", 400)
    context = {
        "comparison": comparison,
        "project": comparison.project,
        "item": compare.next_ab(comparison, request.user),
        "choices": Judgement.Choice,
        "error": error,
    }
    template = "training/compare/judge.html" + ("#ab-card" if request.htmx else "")
    return render(request, template, context, status=status)
