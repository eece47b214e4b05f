"""Members and roles: add by username or e-mail, change roles, remove; access ends at once."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, NotAllowed, NotFound
from curation import members, workflow
from curation.models import AuditEvent, Membership, Record, Role, WorkInProgress

pytestmark = pytest.mark.django_db


def test_add_by_email_then_change_role_and_remove_with_audit(people, project, make_user):
    emil = people["engineer"]
    bea = make_user("bea", email="Bea@Example.com")
    members.add_member(project, emil, who="bea@example.com", role=Role.ANNOTATOR)
    assert project.role_of(bea) == Role.ANNOTATOR
    members.change_role(project, emil, bea, role=Role.REVIEWER)
    assert project.role_of(bea) == Role.REVIEWER
    members.remove_member(project, emil, bea)
    assert project.role_of(bea) is None
    actions = list(
        AuditEvent.objects.filter(target="bea")
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == ["member_add", "member_role", "member_remove"]


def test_removing_someone_releases_their_claims_at_once(people, project):
    anna = people["annotator"]
    for text in ("一", "二"):
        Record.objects.create(
            project=project, kind="instruction", instruction=text, content_hash=text
        )
    held = workflow.next_record(project, anna)
    WorkInProgress.objects.create(record=held, user=anna, base_version=1, data={"state": {}})
    assert members.remove_member(project, people["engineer"], anna) == 1
    held.refresh_from_db()
    assert (held.status, held.assignee) == (Record.Status.NEW, None)
    assert not WorkInProgress.objects.filter(user=anna).exists()
    with pytest.raises(NotAllowed):
        workflow.next_record(project, anna)


def test_the_last_engineer_cannot_be_removed_or_demoted(people, project):
    emil = people["engineer"]
    with pytest.raises(NotAllowed, match="last engineer"):
        members.remove_member(project, emil, emil)
    with pytest.raises(NotAllowed, match="last engineer"):
        members.change_role(project, emil, emil, role=Role.REVIEWER)
    members.change_role(project, emil, people["reviewer"], role=Role.ENGINEER)
    members.remove_member(project, emil, emil)
    assert not Membership.objects.filter(project=project, user=emil).exists()


def test_only_engineers_change_members_and_mistakes_are_named(people, project, make_user):
    make_user("bea")
    with pytest.raises(NotAllowed):
        members.add_member(project, people["reviewer"], who="bea", role=Role.ANNOTATOR)
    with pytest.raises(NotFound, match="nobody"):
        members.add_member(project, people["engineer"], who="nobody", role=Role.ANNOTATOR)
    with pytest.raises(InvalidInput, match="already a member"):
        members.add_member(project, people["engineer"], who="anna", role=Role.REVIEWER)
    with pytest.raises(InvalidInput) as caught:
        members.add_member(project, people["engineer"], who="bea", role="boss")
    assert caught.value.where == "role"
