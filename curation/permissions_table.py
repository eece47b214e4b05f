"""Who may reach which URL, kept in code: for every URL name, the status each kind of visitor
gets. tests/security/test_url_walker.py walks every URL pattern and holds the app to it;
a URL missing from here fails that test, so a new page says who may see it.

Visitors: anonymous, an outsider (signed in, not a member of the project), and the three
roles. Pages send the anonymous to the login page (302), the API answers 401; outsiders get
404 (they learn nothing of a project), members whose role is too low 403.

An entry maps each HTTP method the walker tries to {visitor: status}; a status may be a
tuple where the answer depends on the data (a POST with an empty form may be 400 or a
redirect back to the page). `PK_OF` says which fixture object fills a URL's <pk>.
"""

from __future__ import annotations

from curation.models import ROLE_RANK, Role

VISITORS = ("anonymous", "outsider", "annotator", "reviewer", "engineer")
Status = int | tuple[int, ...]
Access = dict[str, Status]


def everyone(status: Status = 200) -> Access:
    return dict.fromkeys(VISITORS, status)


def signed_in(status: Status = 200, *, anonymous: Status = 302) -> Access:
    return {**dict.fromkeys(VISITORS, status), "anonymous": anonymous}


def members(role: str, ok: Status = 200, *, anonymous: Status = 302) -> Access:
    """At least `role` in the project gets `ok`; lower roles 403, outsiders 404."""
    access = {"anonymous": anonymous, "outsider": 404}
    for visitor in (Role.ANNOTATOR, Role.REVIEWER, Role.ENGINEER):
        access[str(visitor)] = ok if ROLE_RANK[visitor] >= ROLE_RANK[role] else 403
    return access


def api(role: str, ok: Status = 200) -> Access:
    return members(role, ok, anonymous=401)


def creators(ok: Status) -> Access:
    """Those who may create projects get `ok`, other signed-in people 403."""
    return {**signed_in(403), "engineer": ok}


#: A POST with an empty body to an API endpoint: members allowed get 400 (the body is checked
#: after the role).
INVALID = 400
#: A POST with an empty form to a page: an error shown on the page, or a redirect back.
FORM = (200, 302, 400, 409)

TABLE: dict[str, dict[str, Access]] = {
    # --- public ---------------------------------------------------------------------------
    "health": {"GET": everyone(200)},
    "favicon": {"GET": everyone(302)},
    "login": {"GET": everyone(200)},
    "logout": {"POST": everyone(302)},
    "set_language": {"POST": everyone(302)},
    "api_schema": {"GET": signed_in(200, anonymous=401)},
    "api_docs": {"GET": signed_in(200)},
    # Own token auth (OpenAI clients); a session does not count.
    "openai_models": {"GET": everyone(401)},
    "openai_chat": {"POST": everyone(401)},
    # --- the admin: staff only (emil, the engineer, is staff without model permissions) ----
    "admin:login": {"GET": {**everyone(200), "engineer": 302}},
    "admin:logout": {"POST": everyone(302)},
    "admin:*": {
        "GET": {
            "anonymous": 302,
            "outsider": 302,
            "annotator": 302,
            "reviewer": 302,
            "engineer": (200, 302, 403, 404),
        }
    },
    # --- your account ---------------------------------------------------------------------
    "curation:project_list": {"GET": signed_in(200)},
    "api_tokens": {"GET": signed_in(200), "POST": signed_in(400)},
    # An empty form re-shows the page with its errors.
    "password_change": {"GET": signed_in(200), "POST": signed_in(200)},
    "password_change_done": {"GET": signed_in(200)},
    # Who may create projects is TUNEDESK_PROJECT_CREATORS ("engineers" here: staff, and
    # engineers of some project).
    "curation:project_new": {"GET": creators(200), "POST": creators(FORM)},
    # --- curation pages -------------------------------------------------------------------
    "curation:project_home": {"GET": members(Role.ANNOTATOR)},
    "curation:annotate_queue": {"GET": members(Role.ANNOTATOR)},
    "curation:annotate_next": {"POST": members(Role.ANNOTATOR, 302)},
    "curation:guidelines": {"GET": members(Role.ANNOTATOR)},
    "curation:record_edit": {"GET": members(Role.ANNOTATOR)},
    "curation:record_autosave": {"POST": members(Role.ANNOTATOR, FORM)},
    "curation:record_check": {"POST": members(Role.ANNOTATOR, FORM)},
    "curation:record_save": {"POST": members(Role.ANNOTATOR, FORM)},
    "curation:record_submit": {"POST": members(Role.ANNOTATOR, FORM)},
    # Skipping a record nobody holds is refused by the workflow (403) for every member.
    "curation:record_skip": {"POST": members(Role.ANNOTATOR, 403)},
    "curation:record_discard": {"POST": members(Role.ANNOTATOR, FORM)},
    "curation:record_history": {"GET": members(Role.ANNOTATOR)},
    "curation:review_queue": {"GET": members(Role.REVIEWER)},
    "curation:review_record": {"GET": members(Role.REVIEWER)},
    "curation:review_accept": {"POST": members(Role.REVIEWER, FORM)},
    "curation:review_send_back": {"POST": members(Role.REVIEWER, FORM)},
    "curation:records": {"GET": members(Role.REVIEWER)},
    "curation:records_bulk": {"POST": members(Role.REVIEWER, 302)},
    "curation:dashboard": {"GET": members(Role.REVIEWER)},
    # Only a redirect to the export page, which checks the role.
    "curation:data_home": {"GET": signed_in(302)},
    "curation:data_import": {"GET": members(Role.ENGINEER)},
    "curation:data_import_status": {"GET": members(Role.ENGINEER, 404)},
    "curation:data_import_confirm": {"POST": members(Role.ENGINEER, 404)},
    "curation:data_export": {"GET": members(Role.REVIEWER)},
    "curation:data_snapshot_file": {"GET": members(Role.REVIEWER)},
    "curation:data_duplicates": {"GET": members(Role.ENGINEER)},
    # --- project setup ------------------------------------------------------------------
    "curation:project_settings": {
        "GET": members(Role.ENGINEER),
        "POST": members(Role.ENGINEER, FORM),
    },
    "curation:project_render": {"POST": members(Role.ENGINEER)},
    "curation:project_tools": {"GET": members(Role.ENGINEER), "POST": members(Role.ENGINEER, FORM)},
    "curation:project_tools_check": {"POST": members(Role.ENGINEER)},
    "curation:project_members": {
        "GET": members(Role.ENGINEER),
        "POST": members(Role.ENGINEER, FORM),
    },
    # --- training pages -------------------------------------------------------------------
    "training:runs": {"GET": members(Role.ENGINEER)},
    "training:preview": {"GET": members(Role.ENGINEER, (200, 400))},
    "training:run": {"GET": members(Role.ENGINEER)},
    "training:cancel": {"POST": members(Role.ENGINEER, 302)},
    "training:drafting": {"GET": members(Role.ENGINEER)},
    "training:draft_job": {"GET": members(Role.ENGINEER)},
    "training:cancel_draft_job": {"POST": members(Role.ENGINEER, (200, 302))},
    "training:comparisons": {"GET": members(Role.REVIEWER)},
    "training:comparison_launch": {"POST": members(Role.ENGINEER, FORM)},
    "training:comparison": {"GET": members(Role.ENGINEER)},
    "training:comparison_cancel": {"POST": members(Role.ENGINEER, 302)},
    "training:comparison_failures": {"POST": members(Role.ENGINEER, 302)},
    "training:comparison_export": {"GET": members(Role.ENGINEER)},
    "training:comparison_judge": {"GET": members(Role.REVIEWER)},
    # --- the API --------------------------------------------------------------------------
    "api:projects": {
        "GET": {**signed_in(200), "anonymous": 401},
        "POST": {**creators(INVALID), "anonymous": 401},
    },
    # An empty PATCH changes nothing.
    "api:project": {"GET": api(Role.ANNOTATOR), "PATCH": api(Role.ENGINEER)},
    "api:members": {"GET": api(Role.ENGINEER), "POST": api(Role.ENGINEER, INVALID)},
    # The walker's username is nobody's.
    "api:member": {"PATCH": api(Role.ENGINEER, 404), "DELETE": api(Role.ENGINEER, 404)},
    "api:tools": {"GET": api(Role.ANNOTATOR), "PUT": api(Role.ENGINEER, INVALID)},
    "api:records": {"GET": api(Role.REVIEWER), "POST": api(Role.ENGINEER, INVALID)},
    "api:records_bulk": {"POST": api(Role.ENGINEER, INVALID)},
    "api:records_actions": {"POST": api(Role.REVIEWER, INVALID)},
    "api:next_record": {"POST": api(Role.ANNOTATOR, (200, 204))},
    "api:record": {"GET": api(Role.ANNOTATOR), "PUT": api(Role.ANNOTATOR, INVALID)},
    "api:record_submit": {"POST": api(Role.ANNOTATOR, INVALID)},
    "api:record_accept": {"POST": api(Role.REVIEWER, INVALID)},
    "api:record_send_back": {"POST": api(Role.REVIEWER, INVALID)},
    "api:record_drafts": {"GET": api(Role.ANNOTATOR)},
    "api:drafting": {"POST": api(Role.ENGINEER, INVALID)},
    "api:snapshots": {"GET": api(Role.REVIEWER), "POST": api(Role.ENGINEER, INVALID)},
    "api:snapshot": {"GET": api(Role.REVIEWER)},
    "api:snapshot_file": {"GET": api(Role.REVIEWER)},
    "api:runs": {"GET": api(Role.ENGINEER), "POST": api(Role.ENGINEER, INVALID)},
    "api:run": {"GET": api(Role.ENGINEER)},
    "api:run_cancel": {"POST": api(Role.ENGINEER)},
    "api:run_metrics": {"GET": api(Role.ENGINEER)},
    "api:comparisons": {"GET": api(Role.ENGINEER), "POST": api(Role.ENGINEER, INVALID)},
    "api:comparison": {"GET": api(Role.ENGINEER)},
    "api:comparison_report": {"GET": api(Role.ENGINEER)},
    "api:job": {"GET": api(Role.ENGINEER)},
    "api:job_cancel": {"POST": api(Role.ENGINEER)},
    "api:not_found": {"GET": everyone(404)},
}

#: Which fixture object fills <pk>, by URL name; any other <pk> is the fixture record.
PK_OF: dict[str, str] = {
    "training:run": "run",
    "training:cancel": "run",
    "training:draft_job": "draft_job",
    "training:cancel_draft_job": "draft_job",
    "curation:data_snapshot_file": "snapshot",
    "api:snapshot": "snapshot",
    "api:snapshot_file": "snapshot",
    "api:run": "run",
    "api:run_cancel": "run",
    "api:run_metrics": "run",
    "api:comparison": "comparison",
    "api:comparison_report": "comparison",
    "api:job": "draft_job",
    "api:job_cancel": "draft_job",
    **{
        f"training:{name}": "comparison"
        for name in (
            "comparison",
            "comparison_cancel",
            "comparison_failures",
            "comparison_export",
            "comparison_judge",
        )
    },
}


def access(name: str) -> dict[str, Access] | None:
    """The entry for a URL name (an "app:*" entry covers a whole namespace)."""
    if name in TABLE:
        return TABLE[name]
    namespace = name.partition(":")[0]
    return TABLE.get(f"{namespace}:*") if ":" in name else None
