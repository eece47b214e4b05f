"""Who works on a project: add people, change their role, remove them.

Losing access takes effect at once: a removed member's open claims go back to the queue (an
annotator who became a reviewer keeps theirs). Every change goes to the audit log, and a
project always keeps at least one engineer.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotAllowed, NotFound
from curation.models import AuditEvent, Membership, Project, Record, Role, WorkInProgress


def _require_engineer(project: Project, actor) -> None:
    if not project.has_role(actor, Role.ENGINEER):
        raise NotAllowed(
            _("Only engineers of this project can change who works on it."),
            hint=_("ask an engineer of this project"),
        )


def _role(role: object) -> str:
    if role not in Role.values:
        raise InvalidInput(
            _("%(role)s is not a role.") % {"role": repr(role)},
            hint=_("use one of %(roles)s") % {"roles": ", ".join(Role.values)},
            where="role",
        )
    return str(role)


def find_user(who: object):
    """The active user with this username, or else this e-mail address (case-insensitive)."""
    text = str(who or "").strip()
    if not text or "\x00" in text:
        raise InvalidInput(
            _("Give a username or an e-mail address."), hint=_("fill in who to add"), where="user"
        )
    users = get_user_model().objects.filter(is_active=True)
    user = users.filter(username=text).first()
    if user is None and "@" in text:
        matches = list(users.filter(email__iexact=text)[:2])
        if len(matches) > 1:
            raise InvalidInput(
                _("Several people have the e-mail address %(who)s.") % {"who": text},
                hint=_("add them by username"),
                where="user",
            )
        user = matches[0] if matches else None
    if user is None:
        raise NotFound(
            _("Nobody has the username or e-mail address %(who)s.") % {"who": text},
            hint=_("check the spelling, or ask an administrator to create the account"),
            where="user",
        )
    return user


def _membership(project: Project, user) -> Membership:
    membership = project.memberships.select_related("user").filter(user=user).first()
    if membership is None:
        raise NotFound(
            _("%(user)s is not a member of this project.") % {"user": user.get_username()},
            where="user",
        )
    return membership


def _keep_an_engineer(project: Project, membership: Membership) -> None:
    if membership.role != Role.ENGINEER:
        return
    others = project.memberships.filter(role=Role.ENGINEER).exclude(pk=membership.pk)
    if not others.exists():
        raise NotAllowed(
            _("%(user)s is the last engineer of this project.")
            % {"user": membership.user.get_username()},
            hint=_("make someone else an engineer first"),
            where="role",
        )


def release_claims(project: Project, user) -> int:
    """Give back everything `user` holds in `project`: their claimed records (sent-back work
    included) go to the pool, their overlap claims lapse. Autosaved work is dropped with the
    claim. Returns the records released."""
    released = Record.objects.filter(
        project=project,
        assignee=user,
        status__in=(Record.Status.IN_PROGRESS, Record.Status.RETURNED, Record.Status.NEW),
    ).update(
        status=Case(
            When(~Q(review_comment=""), then=Value(Record.Status.RETURNED)),
            default=Value(Record.Status.NEW),
        ),
        assignee=None,
        claimed_at=None,
    )
    WorkInProgress.objects.filter(record__project=project, user=user).delete()
    return released


def _audit(project: Project, actor, action: str, user, **data) -> None:
    project.__dict__.pop("_role_cache", None)  # workflow.role_in's memo of roles: now stale
    AuditEvent.objects.create(
        actor=actor, project=project, action=action, target=user.get_username(), data=data
    )


@transaction.atomic
def add_member(project: Project, actor, *, who: object, role: object) -> Membership:
    _require_engineer(project, actor)
    role = _role(role)
    user = find_user(who)
    if project.memberships.filter(user=user).exists():
        raise InvalidInput(
            _("%(user)s is already a member of this project.") % {"user": user.get_username()},
            hint=_("change their role instead"),
            where="user",
        )
    membership = Membership.objects.create(project=project, user=user, role=role)
    _audit(project, actor, "member_add", user, role=role)
    return membership


@transaction.atomic
def change_role(project: Project, actor, user, *, role: object) -> Membership:
    _require_engineer(project, actor)
    role = _role(role)
    membership = _membership(project, user)
    if membership.role == role:
        return membership
    _keep_an_engineer(project, membership)
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    _audit(project, actor, "member_role", user, before=before, role=role)
    return membership


@transaction.atomic
def remove_member(project: Project, actor, user) -> int:
    """Remove `user` from the project; returns the records their leaving released."""
    _require_engineer(project, actor)
    membership = _membership(project, user)
    _keep_an_engineer(project, membership)
    membership.delete()
    released = release_claims(project, user)
    _audit(project, actor, "member_remove", user, role=membership.role, released=released)
    return released
