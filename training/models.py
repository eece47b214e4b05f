"""Base models, and later training runs and comparisons: fields and one-row methods only."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from jobs.models import Job

BUNDLED_MODEL_NAME = "smollm2-135m-instruct"


class BaseModel(models.Model):
    class Kind(models.TextChoices):
        BUNDLED = "bundled", _("Bundled (SmolLM2-135M-Instruct GGUF)")
        LOCAL = "local", _("Local directory (Hugging Face layout)")
        HUB = "hub", _("Hugging Face hub id")
        HTTP = "http", _("OpenAI-compatible HTTP endpoint")

    name = models.SlugField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    source = models.CharField(
        _("source"),
        max_length=500,
        blank=True,
        help_text=_("Directory path or hub id; empty for the bundled model and HTTP endpoints."),
    )
    base_url = models.URLField(_("base URL"), blank=True, help_text=_("e.g. http://host:8000/v1"))
    api_model = models.CharField(_("model name at the endpoint"), max_length=200, blank=True)
    api_key_env = models.CharField(
        _("API key variable"),
        max_length=100,
        blank=True,
        help_text=_(
            "Name of the environment variable that holds the API key. The key itself is never "
            "stored in the database."
        ),
    )
    native_tools = models.BooleanField(
        _("pass tools natively"),
        default=True,
        help_text=_(
            "HTTP endpoints: send tools as tools= and read tool_calls back. Turn it off for a "
            "server started without tool support: the tools are then written into the prompt, "
            "as for local models."
        ),
    )
    price_per_1k_prompt_tokens = models.FloatField(
        _("price per 1,000 prompt tokens"),
        null=True,
        blank=True,
        help_text=_("HTTP endpoints: what a comparison's cost per 1,000 requests is based on."),
    )
    price_per_1k_completion_tokens = models.FloatField(
        _("price per 1,000 completion tokens"), null=True, blank=True
    )
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("base model")
        verbose_name_plural = _("base models")

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.kind != self.Kind.HTTP

    def endpoint(self) -> dict:
        """training.backends.Endpoint fields (HTTP kind only)."""
        return {
            "base_url": self.base_url,
            "model": self.api_model,
            "api_key_env": self.api_key_env,
            "native_tools": self.native_tools,
        }

    def model_source(self):
        """Where modelload finds this model (local kinds only)."""
        from training.modelload import ModelSource

        if self.kind == self.Kind.BUNDLED:
            return ModelSource(BUNDLED_MODEL_NAME, "bundled")
        if self.kind == self.Kind.HUB:
            return ModelSource(self.name, "hub", self.source)
        return ModelSource(
            self.name, "gguf" if self.source.endswith(".gguf") else "local", self.source
        )

    def clean(self) -> None:
        if self.kind in (self.Kind.LOCAL, self.Kind.HUB) and not self.source:
            raise ValidationError({"source": _("Give the directory path or hub id.")})
        if self.kind == self.Kind.HTTP and not (self.base_url and self.api_model):
            raise ValidationError(
                _("An HTTP endpoint needs its base URL and the model name it serves.")
            )
        if self.api_key_env and not self.api_key_env.replace("_", "").isalnum():
            raise ValidationError(
                {"api_key_env": _("Give the variable's name, e.g. OPENAI_API_KEY, not the key.")}
            )


class TrainingRun(models.Model):
    """A LoRA fine-tuning run of a base model on an export snapshot; its work is a Job."""

    class Method(models.TextChoices):
        SFT = "sft", _("LoRA SFT")
        DPO = "dpo", _("LoRA DPO")

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="runs")
    snapshot = models.ForeignKey(
        "curation.ExportSnapshot", on_delete=models.PROTECT, related_name="runs"
    )
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="runs")
    method = models.CharField(_("method"), max_length=5, choices=Method.choices, default=Method.SFT)
    config = models.JSONField(_("hyper-parameters"), default=dict, blank=True)
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="run"
    )
    adapter_path = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")

    def __str__(self) -> str:
        return f"Run #{self.pk} {self.base_model} {self.method}"


class Comparison(models.Model):
    """Tune-and-compare: contenders answer a snapshot's test split; the report scores them."""

    project = models.ForeignKey(
        "curation.Project", on_delete=models.CASCADE, related_name="comparisons"
    )
    run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="comparisons"
    )
    snapshot = models.ForeignKey(
        "curation.ExportSnapshot", on_delete=models.PROTECT, related_name="comparisons"
    )
    contenders = models.JSONField(default=list, help_text=_("name, base model, adapter, prompt."))
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="comparison"
    )
    report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("comparison")
        verbose_name_plural = _("comparisons")

    def __str__(self) -> str:
        return f"Comparison #{self.pk}"


class Judgement(models.Model):
    """A blind A/B pick by a reviewer between two contenders' answers to one example."""

    class Choice(models.TextChoices):
        LEFT = "left", _("Left is better")
        RIGHT = "right", _("Right is better")
        TIE = "tie", _("Tie")

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="judgements")
    example = models.PositiveIntegerField()
    left = models.CharField(max_length=100)
    right = models.CharField(max_length=100)
    choice = models.CharField(max_length=5, choices=Choice.choices)
    judge = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "example", "judge"], name="one_judgement_per_example"
            )
        ]

    def __str__(self) -> str:
        return f"{self.judge}: {self.choice} on example {self.example}"
