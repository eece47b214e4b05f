"""Training pages: list and launch runs, preview the preparation, watch and cancel a run."""

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
from curation.models import ExportSnapshot, Role
from training import preview, runs
from training.config import ConfigError, RunConfig
from training.models import BaseModel, TrainingRun

DEFAULTS = RunConfig()
HYPER = (
    "lora_rank",
    "lora_alpha",
    "learning_rate",
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accum",
    "max_length",
    "precision",
    "seed",
    "prompt",
    "replay",
    "processes",
)


class LaunchForm(forms.Form):
    base_model = forms.ModelChoiceField(
        label=gettext_lazy("Base model"),
        queryset=BaseModel.objects.exclude(kind=BaseModel.Kind.HTTP),
    )
    snapshot = forms.ModelChoiceField(
        label=gettext_lazy("Snapshot"), queryset=ExportSnapshot.objects.none()
    )
    method = forms.ChoiceField(label=gettext_lazy("Method"), choices=TrainingRun.Method.choices)
    lora_rank = forms.IntegerField(
        label=gettext_lazy("LoRA rank"), min_value=1, initial=DEFAULTS.lora_rank
    )
    lora_alpha = forms.IntegerField(
        label=gettext_lazy("LoRA alpha"), min_value=1, initial=DEFAULTS.lora_alpha
    )
    learning_rate = forms.FloatField(
        label=gettext_lazy("Learning rate"),
        required=False,
        help_text=gettext_lazy("Empty: 2e-4 for SFT, 5e-5 for DPO."),
    )
    epochs = forms.FloatField(label=gettext_lazy("Epochs"), min_value=0.01, initial=DEFAULTS.epochs)
    max_steps = forms.IntegerField(
        label=gettext_lazy("Max steps"),
        min_value=1,
        required=False,
        help_text=gettext_lazy("Wins over epochs."),
    )
    batch_size = forms.IntegerField(
        label=gettext_lazy("Batch size"), min_value=1, initial=DEFAULTS.batch_size
    )
    grad_accum = forms.IntegerField(
        label=gettext_lazy("Gradient accumulation"), min_value=1, initial=DEFAULTS.grad_accum
    )
    max_length = forms.IntegerField(
        label=gettext_lazy("Max length (tokens)"), min_value=16, initial=DEFAULTS.max_length
    )
    precision = forms.ChoiceField(
        label=gettext_lazy("Precision"),
        choices=[
            ("auto", gettext_lazy("auto (measured fastest)")),
            ("fp32", "fp32"),
            ("bf16", "bf16"),
        ],
    )
    seed = forms.IntegerField(label=gettext_lazy("Seed"), initial=DEFAULTS.seed)
    prompt = forms.ChoiceField(
        label=gettext_lazy("Prompt"),
        choices=[
            ("short", gettext_lazy("short: the record alone (tuning replaces the long prompt)")),
            ("full", gettext_lazy("full: system prompt and tool schemas")),
        ],
        initial=DEFAULTS.prompt,
        required=False,
    )
    replay = forms.FloatField(
        label=gettext_lazy("General data replay (share)"),
        min_value=0,
        max_value=0.5,
        initial=DEFAULTS.replay,
        required=False,
        help_text=gettext_lazy(
            "Share of the rows trained on that are general instruction data (Chinese and "
            "English, shipped with Tunedesk), so the model keeps answering general questions. "
            "0 = off; the demo trains with 0.1."
        ),
    )
    processes = forms.IntegerField(
        label=gettext_lazy("Processes"),
        min_value=1,
        initial=DEFAULTS.processes,
        required=False,
        help_text=gettext_lazy(
            "Training processes the worker launches (torchrun): one per GPU of the host, or "
            "that many CPU processes. Each step then covers processes × batch size rows."
        ),
    )
    queue = forms.ChoiceField(
        label=gettext_lazy("Host class"),
        choices=[("default", gettext_lazy("default")), ("cpu", "cpu"), ("gpu", "gpu")],
    )

    def __init__(self, *args, project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        snapshots = ExportSnapshot.objects.filter(project=project)
        self.fields["snapshot"].queryset = snapshots
        self.fields["snapshot"].initial = snapshots.first()
        self.fields["base_model"].initial = BaseModel.objects.filter(kind="bundled").first()

    def clean_prompt(self) -> str:
        return self.cleaned_data["prompt"] or DEFAULTS.prompt

    def config(self) -> dict:
        data = self.cleaned_data
        return {k: data[k] for k in HYPER if data.get(k) is not None}


def _run_for(request: HttpRequest, slug: str, pk: int) -> TrainingRun:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    run = get_object_or_404(
        TrainingRun.objects.select_related("job", "base_model", "snapshot"), pk=pk, project=project
    )
    run.project = project
    return run


def training_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    form = LaunchForm(request.POST or None, project=project)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = runs.launch_run(
                project,
                request.user,
                base_model=data["base_model"],
                snapshot=data["snapshot"],
                method=data["method"],
                config=form.config(),
                queue=data["queue"],
            )
        except CurationError as e:
            form.add_error(None, str(e))
            status = e.status
        else:
            messages.success(request, _("Run #%(id)s is queued.") % {"id": run.pk})
            return redirect("training:run", slug=project.slug, pk=run.pk)
    context = {
        "project": project,
        "form": form,
        "runs": project.runs.select_related("job", "base_model", "snapshot")[:50],
    }
    return render(request, "training/runs.html", context, status=status)


def preview_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    form = LaunchForm(request.GET, project=project)
    context, status = {"project": project}, 200
    if form.is_valid():
        try:
            config = RunConfig.from_dict({**form.config(), "method": form.cleaned_data["method"]})
            context["preview"] = preview.preview_run(
                project=project,
                base_model=form.cleaned_data["base_model"],
                snapshot=form.cleaned_data["snapshot"],
                config=config,
            )
        except (ConfigError, ValueError) as e:
            context["error"], status = str(e), 400
    else:
        context["error"], status = form.errors.as_text(), 400
    return render(request, "training/runs.html#preview", context, status=status)


def run_page(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    run = _run_for(request, slug, pk)
    context = {
        "project": run.project,
        "run": run,
        "job": run.job,
        "summary": runs.run_summary(run),
        "chart": loss_chart(runs.loss_history(run)),
        "phase": runs.phase_text(run.job),
    }
    template = "training/run.html" + ("#progress" if request.htmx else "")
    return render(request, template, context)


@require_POST
def cancel(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    run = _run_for(request, slug, pk)
    runs.cancel_run(run, request.user)
    if request.htmx:
        return run_page(request, slug, pk)
    return redirect("training:run", slug=slug, pk=pk)


def loss_chart(history: dict, *, width: int = 600, height: int = 200) -> dict | None:
    """Polyline points for an inline SVG loss curve (train and eval on one scale)."""
    loss, evals = history["loss"], history["eval_loss"]
    if not loss:
        return None
    values = [v for _, v in loss + evals]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last_step = max(s for s, _ in loss + evals) or 1

    def points(series: list) -> str:
        return " ".join(
            f"{s / last_step * width:.1f},{height - (v - low) / span * height:.1f}"
            for s, v in series
        )

    return {
        "width": width,
        "height": height,
        "train": points(loss),
        "eval": points(evals),
        "eval_points": [
            {
                "x": round(s / last_step * width, 1),
                "y": round(height - (v - low) / span * height, 1),
            }
            for s, v in evals
        ],
        "low": round(low, 3),
        "high": round(high, 3),
        "steps": last_step,
    }
