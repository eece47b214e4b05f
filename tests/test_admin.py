"""Every model is in the admin and its pages work for a staff engineer."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, make_user):
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    return client


def test_every_tunedesk_model_is_registered():
    from django.apps import apps

    for app in ("core", "jobs", "curation", "training"):
        for model in apps.get_app_config(app).get_models():
            assert admin.site.is_registered(model), f"{model.__name__} is not in the admin"


@pytest.mark.parametrize("app", ["core", "jobs", "curation", "training"])
def test_changelist_and_add_pages_render(admin_client_, app, project):
    from django.apps import apps

    for model in apps.get_app_config(app).get_models():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert admin_client_.get(url).status_code == 200, url
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        # Read-only logs (the audit trail) refuse adding with 403; the rest render the form.
        assert admin_client_.get(add).status_code in (200, 403), add


def test_an_engineer_edits_a_record_in_the_admin_and_it_is_versioned(admin_client_, project):
    from curation.models import Record

    record = Record.objects.create(
        project=project, kind="instruction", instruction="问", output="答"
    )
    url = reverse("admin:curation_record_change", args=[record.pk])
    page = admin_client_.get(url)
    assert page.status_code == 200
    data = {
        "project": project.pk,
        "kind": "instruction",
        "status": "new",
        "split": "",
        "instruction": "问",
        "output": "更好的答",
        "extra": "{}",
        "meta": "{}",
        "problems": "[]",
        "history": "null",
        "messages": "null",
        "tools": "null",
        "chosen": "null",
        "rejected": "null",
        "source": "",
        "tool_name": "",
        "drafts-TOTAL_FORMS": "0",
        "drafts-INITIAL_FORMS": "0",
        "history_events-TOTAL_FORMS": "0",
        "history_events-INITIAL_FORMS": "0",
    }
    response = admin_client_.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    record.refresh_from_db()
    assert record.output == "更好的答"
    assert record.version == 2
    assert record.history_events.get().action == "admin_edit"
    assert record.content_hash == record.compute_content_hash()


def test_the_bundled_model_is_registered_on_every_install():
    from training.models import BaseModel

    assert BaseModel.objects.get(name="smollm2-135m-instruct").kind == "bundled"
