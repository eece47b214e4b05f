"""Drafting pages: start a drafting job, watch its progress, cancel it (engineers only)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import CurationError
from curation import selectors
from curation.models import Record, Role
from jobs import services as jobs
from jobs.models import Job
from training import drafting
from training.models import BaseModel

WHICH = [
    ("without_draft", gettext_lazy("All records without a draft")),
    ("new", gettext_lazy("New records (status new)")),
    ("ids", gettext_lazy("These record ids")),
]


class DraftForm(forms.Form):
    model = forms.ModelChoiceField(
        label=gettext_lazy("Model"), queryset=BaseModel.objects.all(), to_field_name="name"
    )
    which = forms.ChoiceField(label=gettext_lazy("Records"), choices=WHICH, initial="without_draft")
    ids = forms.CharField(
        label=gettext_lazy("Record ids"),
        required=False,
        help_text=gettext_lazy("Comma-separated, e.g. 12, 15, 40."),
    )
    limit = forms.IntegerField(label=gettext_lazy("At most"), min_value=1, required=False)
    max_new_tokens = forms.IntegerField(
        label=gettext_lazy("Max new tokens"), min_value=1, max_value=4096, initial=192
    )
    temperature = forms.FloatField(
        label=gettext_lazy("Temperature"),
        min_value=0,
        max_value=2,
        initial=0.0,
        help_text=gettext_lazy("0 is greedy: the same prompt always gives the same draft."),
    )
    batch_size = forms.IntegerField(
        label=gettext_lazy("Batch size"), min_value=1, max_value=64, initial=8
    )

    def clean_ids(self) -> list[int]:
        text = self.cleaned_data["ids"].replace("，", ",")
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError(
                _("Give record ids as numbers separated by commas.")
            ) from None


def _records(project, form: DraftForm):
    which = form.cleaned_data["which"]
    if which == "without_draft":
        return drafting.records_without_draft(project)
    if which == "new":
        return project.records.filter(status=Record.Status.NEW)
    return project.records.filter(pk__in=form.cleaned_data["ids"])


def drafting_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    form = DraftForm(request.POST or None, initial={"model": BaseModel.objects.first()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = drafting.start_drafting(
                project,
                request.user,
                model=data["model"],
                records=_records(project, form),
                settings_=drafting.DraftSettings(
                    max_new_tokens=data["max_new_tokens"],
                    temperature=data["temperature"],
                    batch_size=data["batch_size"],
                ),
                limit=data["limit"],
            )
        except CurationError as e:
            form.add_error(None, str(e))
        else:
            messages.success(request, _("Drafting job #%(id)s is queued.") % {"id": job.pk})
            return redirect("training:draft_job", slug=project.slug, pk=job.pk)
    context = {
        "project": project,
        "form": form,
        "jobs": project.jobs.filter(kind=Job.Kind.DRAFT)[:20],
        "without_draft": drafting.records_without_draft(project).count(),
    }
    return render(request, "training/drafting.html", context)


def draft_job_page(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    job = get_object_or_404(Job, pk=pk, project=project, kind=Job.Kind.DRAFT)
    context = {"project": project, "job": job, "recent": job_drafts(job)}
    template = "training/draft_job.html" + ("#job-progress" if request.htmx else "")
    return render(request, template, context)


@require_POST
def cancel_draft_job(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    job = jobs.request_cancel(get_object_or_404(Job, pk=pk, project=project, kind=Job.Kind.DRAFT))
    context = {"project": project, "job": job, "recent": job_drafts(job)}
    template = "training/draft_job.html" + ("#job-progress" if request.htmx else "")
    return render(request, template, context)


def job_drafts(job: Job, limit: int = 10):
    from curation.models import Draft

    return Draft.objects.filter(job_id=job.pk).select_related("record").order_by("-id")[:limit]
