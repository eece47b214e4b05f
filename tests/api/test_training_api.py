"""Snapshots, runs, comparisons, drafting and jobs through the API (engineers)."""

from __future__ import annotations

import pytest

from curation.models import Record
from jobs.models import Job
from training.models import BaseModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.JOBS_DIR = tmp_path / "jobs"
    settings.RUNS_DIR = tmp_path / "runs"


@pytest.fixture
def snapshot_id(api_for, project, records):
    Record.objects.filter(project=project).update(status="accepted")
    response = api_for("engineer").post(
        f"/api/projects/{project.slug}/snapshots/",
        {"format": "alpaca", "test_ratio": 0.2, "seed": 1},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


@pytest.fixture
def bundled(db):
    return BaseModel.objects.get_or_create(
        name="smollm2-135m-instruct", defaults={"kind": BaseModel.Kind.BUNDLED}
    )[0]


def test_a_reviewer_downloads_what_an_engineer_exported(
    api_for, people, project, records, snapshot_id
):
    snapshot = api_for("reviewer").get(f"/api/snapshots/{snapshot_id}/").json()
    assert (snapshot["counts"]["train"], snapshot["counts"]["test"]) == (16, 4)
    train = next(f for f in snapshot["files"] if f["split"] == "train")
    body = b"".join(api_for("reviewer").get(train["download"]).streaming_content)
    assert len(body.decode().splitlines()) == 16
    from curation.models import AuditEvent

    taken = AuditEvent.objects.get(action="download")
    assert (taken.actor, taken.target) == (people["reviewer"], f"snapshot #{snapshot_id}")
    assert taken.data == {"file": "train.jsonl", "via": "api"}
    denied = api_for("reviewer").post(
        f"/api/projects/{project.slug}/snapshots/", {"format": "alpaca"}, format="json"
    )
    assert denied.status_code == 403


def test_an_unknown_split_is_a_json_404(api_for, snapshot_id):
    response = api_for("engineer").get(f"/api/snapshots/{snapshot_id}/files/nope/")
    assert response.status_code == 404
    assert "no 'nope' file" in response.json()["error"]["message"]


def test_a_run_is_launched_followed_and_cancelled(api_for, project, snapshot_id, bundled):
    client = api_for("engineer")
    created = client.post(
        f"/api/projects/{project.slug}/runs/",
        {"snapshot": snapshot_id, "base_model": bundled.name, "config": {"epochs": 1}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    run = created.json()
    assert run["job"]["status"] == "queued"
    metrics = client.get(f"/api/runs/{run['id']}/metrics/").json()
    assert (metrics["status"], metrics["loss"]) == ("queued", [])
    cancelled = client.post(f"/api/runs/{run['id']}/cancel/").json()
    assert cancelled["status"] == "cancelled"
    assert client.get(f"/api/jobs/{run['job']['id']}/").json()["status"] == "cancelled"


def test_a_bad_hyper_parameter_is_named(api_for, project, snapshot_id, bundled):
    response = api_for("engineer").post(
        f"/api/projects/{project.slug}/runs/",
        {"snapshot": snapshot_id, "base_model": bundled.name, "config": {"epochs": -1}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["where"]


def test_an_unknown_base_model_says_where_to_register_it(api_for, project, snapshot_id):
    response = api_for("engineer").post(
        f"/api/projects/{project.slug}/runs/",
        {"snapshot": snapshot_id, "base_model": "nope"},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["where"] == "base_model"


def test_a_reviewer_may_not_launch_runs(api_for, project, snapshot_id, bundled):
    response = api_for("reviewer").post(
        f"/api/projects/{project.slug}/runs/",
        {"snapshot": snapshot_id, "base_model": bundled.name},
        format="json",
    )
    assert response.status_code == 403


def test_comparing_a_run_without_an_adapter_explains_why_not(
    api_for, project, snapshot_id, bundled
):
    client = api_for("engineer")
    run = client.post(
        f"/api/projects/{project.slug}/runs/",
        {"snapshot": snapshot_id, "base_model": bundled.name},
        format="json",
    ).json()
    response = client.post(
        f"/api/projects/{project.slug}/comparisons/", {"run": run["id"]}, format="json"
    )
    assert response.status_code == 400
    assert "adapter" in response.json()["error"]["message"]


def test_drafting_queues_a_job_that_can_be_cancelled(api_for, project, records, bundled):
    client = api_for("engineer")
    response = client.post(
        f"/api/projects/{project.slug}/drafting/",
        {"model": bundled.name, "limit": 5},
        format="json",
    )
    assert response.status_code == 201, response.json()
    job = response.json()
    assert (job["kind"], job["total"]) == ("draft", 5)
    assert client.post(f"/api/jobs/{job['id']}/cancel/").json()["status"] == "cancelled"
    assert Job.objects.get(pk=job["id"]).cancel_requested
