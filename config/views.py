from django.apps import apps
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, router
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database answers, 503 when it does not.

    `SELECT 1` is not enough: on a damaged SQLite file it still answers while every page
    that reads a table fails. So the first row of every table is read, all its columns (an
    index alone may answer for the primary key), which costs the same however many rows
    there are."""
    try:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                db = router.db_for_read(model)
                list(model._base_manager.using(db).order_by()[:1])
    except DatabaseError as e:
        return JsonResponse(
            {"status": "error", "database": str(e), "table": model._meta.db_table}, status=503
        )
    return JsonResponse({"status": "ok"})
