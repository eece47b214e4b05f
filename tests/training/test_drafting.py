"""Drafting end to end: a real child process with a tiny model, through the real worker."""

import os
import signal
import time

import pytest
from django.core.management import call_command

from core.errors import InvalidInput, NotAllowed
from curation.models import Draft, Record
from jobs.models import Job
from tests.worker import db_worker
from training import drafting
from training.models import BaseModel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tiny(tiny_model_dir):
    return BaseModel.objects.create(
        name="tiny", kind=BaseModel.Kind.LOCAL, source=str(tiny_model_dir)
    )


@pytest.fixture
def records(project):
    rows = [
        Record(
            project=project,
            kind="conversation",
            messages=[{"role": "user", "content": f"查一下{n}号商品的库存"}],
        )
        for n in range(5)
    ]
    rows.append(
        Record(
            project=project, kind="instruction", instruction="Say hello", input="", output="Hello!"
        )
    )
    return Record.objects.bulk_create(rows)


def settings_(**kw):
    return drafting.DraftSettings(**({"max_new_tokens": 6, "batch_size": 4} | kw))


def test_only_engineers_start_drafting(project, people, tiny, records):
    with pytest.raises(NotAllowed):
        drafting.start_drafting(
            project, people["annotator"], model=tiny, records=project.records.all()
        )


def test_nothing_to_draft_is_a_clear_error(project, people, tiny):
    with pytest.raises(InvalidInput, match="nothing to draft"):
        drafting.start_drafting(
            project, people["engineer"], model=tiny, records=project.records.all()
        )


def test_bad_settings_are_refused():
    with pytest.raises(InvalidInput, match="Temperature"):
        drafting.DraftSettings(temperature=3)


def test_a_drafting_job_leaves_a_draft_beside_every_record(project, people, tiny, records):
    before = {r.pk: r.content() for r in records}
    job = drafting.start_drafting(
        project,
        people["engineer"],
        model=tiny,
        records=project.records.all(),
        settings_=settings_(),
    )
    from jobs.tasks import run_job

    assert run_job.call(job.pk) == Job.Status.SUCCEEDED
    job.refresh_from_db()
    assert (job.done, job.total) == (6, 6)
    # the log says where the model ran (modelload.placement): the CPU here, as before
    assert "Drafting on device cpu, dtype float32" in job.log_tail
    drafts = Draft.objects.filter(job_id=job.pk)
    assert sorted(d.record_id for d in drafts) == sorted(before)
    for draft in drafts:
        assert draft.model_name == "tiny"
        assert draft.prompt and draft.prompt_tokens > 0
        assert 1 <= draft.completion_tokens <= 6
        assert draft.parse_status in Draft.ParseStatus.values
    # the record itself is untouched: a draft never overwrites the human answer
    for record in Record.objects.filter(pk__in=before):
        assert record.content() == before[record.pk]
    # "all without a draft" now finds nothing left
    assert not drafting.records_without_draft(project).exists()


def test_the_prompt_carries_the_project_system_prompt_and_tools(project, people, tiny, records):
    job = drafting.start_drafting(
        project,
        people["engineer"],
        model=tiny,
        records=project.records.filter(pk=records[0].pk),
        settings_=settings_(),
    )
    from jobs.tasks import run_job

    run_job.call(job.pk)
    prompt = Draft.objects.get(job_id=job.pk).prompt
    assert project.system_prompt in prompt
    assert "check_stock" in prompt
    assert "查一下0号商品的库存" in prompt


def test_the_command_drafts_and_reports_json(project, people, tiny, records, capsys):
    call_command(
        "draft_records",
        "--project",
        project.slug,
        "--model",
        "tiny",
        "--limit",
        "2",
        "--max-new-tokens",
        "4",
        "--user",
        people["engineer"].username,
        "--json",
    )
    import json

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["records"] == 2 and summary["drafted"] == 2


def test_the_worker_survives_a_killed_child_and_runs_the_next_job(
    project, people, tiny, records, tmp_path
):
    engineer = people["engineer"]
    slow = drafting.start_drafting(
        project,
        engineer,
        model=tiny,
        records=project.records.all(),
        settings_=settings_(max_new_tokens=400, batch_size=1),
    )
    with db_worker(log=tmp_path / "worker.log") as worker:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            slow.refresh_from_db()
            if slow.pid:
                break
            time.sleep(0.2)
        assert slow.pid, "the worker never started the child"
        os.kill(slow.pid, signal.SIGKILL)
        quick = drafting.start_drafting(
            project,
            engineer,
            model=tiny,
            records=project.records.filter(pk=records[0].pk),
            settings_=settings_(),
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            quick.refresh_from_db()
            if quick.is_finished:
                break
            time.sleep(0.3)
        assert worker.poll() is None, "the worker died with its child"
    slow.refresh_from_db()
    assert slow.status == Job.Status.FAILED and "SIGKILL" in slow.error
    assert quick.status == Job.Status.SUCCEEDED, (tmp_path / "worker.log").read_text()[-2000:]
