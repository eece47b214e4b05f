"""Who may see what: anonymous users see only login and health; outsiders see nothing of a
project; each role sees its own part."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login_from_the_project_list(client):
    response = client.get(reverse("curation:project_list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_anonymous_is_sent_to_login_from_a_project(client, project):
    response = client.get(reverse("curation:project_home", args=[project.slug]))
    assert response.status_code == 302


def test_health_and_login_need_no_account(client):
    assert client.get(reverse("health")).json() == {"status": "ok"}
    assert client.get(reverse("login")).status_code == 200


def test_the_language_switch_works_before_login(client):
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/login/"})
    assert response.status_code == 302
    assert client.get(reverse("login")).content.decode().count("登录") >= 1


def test_an_outsider_does_not_see_the_project_in_the_list(client_for, project):
    response = client_for("outsider").get(reverse("curation:project_list"))
    assert project.name not in response.content.decode()


def test_an_outsider_gets_404_not_403_for_a_project(client_for, project):
    response = client_for("outsider").get(reverse("curation:project_home", args=[project.slug]))
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["annotator", "reviewer", "engineer"])
def test_every_member_sees_the_project_home(client_for, project, role):
    response = client_for(role).get(reverse("curation:project_home", args=[project.slug]))
    assert response.status_code == 200
    assert project.name in response.content.decode()


def test_roles_are_ranked(project, people):
    from curation.models import Role

    assert project.has_role(people["engineer"], Role.ANNOTATOR)
    assert project.has_role(people["reviewer"], Role.ANNOTATOR)
    assert not project.has_role(people["annotator"], Role.REVIEWER)
    assert not project.has_role(people["reviewer"], Role.ENGINEER)
    assert not project.has_role(people["outsider"], Role.ANNOTATOR)


def test_a_superuser_acts_as_engineer_without_membership(project, make_user):
    from curation.models import Role

    root = make_user("root", is_superuser=True, is_staff=True)
    assert project.role_of(root) == Role.ENGINEER


def test_an_inactive_member_has_no_role(project, people):
    people["engineer"].is_active = False
    assert project.role_of(people["engineer"]) is None
