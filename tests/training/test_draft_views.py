import pytest
from django.urls import reverse

from curation.models import Record
from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(project):
    return Record.objects.create(
        project=project, kind="conversation", messages=[{"role": "user", "content": "库存?"}]
    )


@pytest.mark.parametrize(
    ("role", "status"),
    [("outsider", 404), ("annotator", 403), ("reviewer", 403), ("engineer", 200)],
)
def test_only_engineers_open_the_drafting_page(client_for, project, role, status):
    assert (
        client_for(role).get(reverse("training:drafting", args=[project.slug])).status_code
        == status
    )


def test_an_engineer_starts_a_job_and_watches_it(client_for, project, record):
    client = client_for("engineer")
    response = client.post(
        reverse("training:drafting", args=[project.slug]),
        {
            "model": "smollm2-135m-instruct",
            "which": "without_draft",
            "max_new_tokens": 32,
            "temperature": 0,
            "batch_size": 8,
        },
    )
    job = Job.objects.get(kind=Job.Kind.DRAFT)
    assert response.status_code == 302 and response.url.endswith(f"/drafting/{job.pk}/")
    assert job.params["record_ids"] == [record.pk] and job.total == 1
    page = client.get(response.url, headers={"HX-Request": "true"})
    body = page.content.decode()
    assert 'id="job-progress"' in body and "<html" not in body
    assert 'hx-trigger="every 2s"' in body  # polls while it runs


def test_bad_record_ids_are_explained(client_for, project, record):
    response = client_for("engineer").post(
        reverse("training:drafting", args=[project.slug]),
        {
            "model": "smollm2-135m-instruct",
            "which": "ids",
            "ids": "12, abc",
            "max_new_tokens": 32,
            "temperature": 0,
            "batch_size": 8,
        },
    )
    assert response.status_code == 200
    assert "Give record ids as numbers" in response.content.decode()
    assert not Job.objects.exists()


def test_cancel_from_the_page_cancels_a_queued_job(client_for, project, record):
    client = client_for("engineer")
    client.post(
        reverse("training:drafting", args=[project.slug]),
        {
            "model": "smollm2-135m-instruct",
            "which": "new",
            "max_new_tokens": 8,
            "temperature": 0,
            "batch_size": 1,
        },
    )
    job = Job.objects.get()
    client.post(reverse("training:cancel_draft_job", args=[project.slug, job.pk]))
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
