import pytest
from django.core.management import call_command

from curation.demo import DEMO_SLUG, setup_demo
from curation.models import Project, Record, Role

pytestmark = pytest.mark.django_db


def test_the_demo_has_its_people_a_curated_set_and_a_work_queue():
    result = setup_demo(password="pw", rows=120, queue_rows=30)
    project = result.project
    roles = dict(project.memberships.values_list("user__username", "role"))
    assert roles == {
        "engineer": Role.ENGINEER,
        "reviewer": Role.REVIEWER,
        "anna": Role.ANNOTATOR,
        "ben": Role.ANNOTATOR,
    }
    assert project.records.filter(status=Record.Status.ACCEPTED).count() == 120
    queue = project.records.filter(status=Record.Status.NEW)
    assert 25 <= queue.count() <= 30
    # queue records hold only the request: the model drafts, people correct
    assert all(r.messages[-1]["role"] == "user" for r in queue)
    # the generated tool calls all validate against the project's own schemas
    assert not project.records.filter(has_problems=True).exists()


def test_setting_up_the_demo_twice_changes_nothing():
    setup_demo(password="pw", rows=50, queue_rows=10)
    count = Record.objects.count()
    second = setup_demo(password="other", rows=50, queue_rows=10)
    assert second.created_records == 0
    assert Record.objects.count() == count
    assert Project.objects.filter(slug=DEMO_SLUG).count() == 1


def test_the_command_prints_the_accounts(capsys):
    call_command("setup_demo", "--rows", "20", "--queue-rows", "5")
    out = capsys.readouterr().out
    assert "engineer, reviewer, anna, ben" in out and "tunedesk-demo" in out


def test_the_command_queues_one_drafting_job_for_the_work_queue(capsys):
    from jobs.models import Job

    call_command("setup_demo", "--rows", "20", "--queue-rows", "5")
    call_command("setup_demo", "--rows", "20", "--queue-rows", "5")
    job = Job.objects.get(kind=Job.Kind.DRAFT)
    assert job.params["model"] == "smollm2-135m-instruct"
    assert job.total == Record.objects.filter(status=Record.Status.NEW).count()
