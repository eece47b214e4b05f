from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The shared layer below curation and training: the error base and API tokens."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
    verbose_name = _("Accounts and API tokens")
