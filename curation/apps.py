from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def audit_token_change(sender, *, actor, action: str, token, **kwargs) -> None:
    # core.tokens sits below curation, so it announces changes and the audit log records them.
    from curation.models import AuditEvent

    AuditEvent.objects.create(
        actor=actor,
        action=action,
        target=f"token {token.prefix}… of {token.user}",
        data={"token": token.pk, "user": token.user_id, "name": token.name},
    )


class CurationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation"
    verbose_name = _("Curation")

    def ready(self) -> None:
        from core.tokens import token_changed
        from curation.uploads import sweep_uploads
        from jobs.services import register_sweep
        from jobs.tasks import register_handler

        token_changed.connect(audit_token_change, dispatch_uid="curation.audit_token_change")
        register_handler("import", "curation.uploads.run_import_job")
        register_sweep(sweep_uploads)
