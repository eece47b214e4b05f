"""Setting a project up in the app: the new-project page (optionally from a data file), the
project settings page with its live prompt rendering, the tools editor, and members.

Doors only: each view checks who is asking, calls a service in curation.projects or
curation.members, and renders the page or its named fragment.
"""

from __future__ import annotations

import copy
import json
import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import CurationError, InvalidInput
from curation import imports, members, projects, selectors
from curation.annotate_views import tool_forms
from curation.data_views import _readable_formats
from curation.models import Membership, Project, Record, Role
from curation.record_content import chat_messages
from curation.toolcheck import check_tool_definitions, tool_parameters

#: A file for a project not yet made waits here, under a random token, for its owner.
NEW_UPLOADS = "_new"
_TOKEN_CHARS = set("0123456789abcdef")


# --- new project ---------------------------------------------------------------------------


def _new_upload_dir(token: str) -> Path:
    if len(token) != 16 or not set(token) <= _TOKEN_CHARS:
        raise Http404(_("No such upload."))
    return Path(settings.UPLOAD_DIR) / NEW_UPLOADS / token


def _kept_file(token: str, user) -> Path:
    folder = _new_upload_dir(token)
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Http404(_("No such upload.")) from None
    if state["user"] != user.pk:
        raise Http404(_("No such upload."))
    return folder / state["file"]


def _keep_upload(upload, user) -> tuple[str, Path]:
    token = secrets.token_hex(8)
    folder = _new_upload_dir(token)
    folder.mkdir(parents=True)
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(upload.name).name)
    path = folder / (name or "upload")
    with open(path, "wb") as f:
        for chunk in upload.chunks():
            f.write(chunk)
    state = {"user": user.pk, "file": path.name}
    (folder / "state.json").write_text(json.dumps(state), encoding="utf-8")
    return token, path


def _proposed_tools(post) -> tuple[list, dict[int, list[str]]]:
    """The proposed tools the engineer kept (each card's JSON), and the problems per card."""
    tools, errors = [], {}
    for i, text in enumerate(post.getlist("tool_json")):
        if str(i) not in post.getlist("tool_keep"):
            continue
        try:
            tools.append(json.loads(text))
        except json.JSONDecodeError as e:
            errors[i] = [
                _("Not valid JSON: %(error)s (line %(line)s).") % {"error": e.msg, "line": e.lineno}
            ]
            tools.append(None)
    return tools, errors


def _tool_cards(tools: list, keep: set[int] | None = None) -> list[dict]:
    return [
        {
            "index": i,
            "name": (t.get("function", t).get("name", "") if isinstance(t, dict) else ""),
            "json": json.dumps(t, ensure_ascii=False, indent=2),
            "keep": keep is None or i in keep,
            "errors": [],
        }
        for i, t in enumerate(tools)
    ]


def _new_context(**extra) -> dict:
    return {
        "task_kinds": Project.TaskKind.choices,
        "languages": settings.LANGUAGES,
        "formats": _readable_formats(),
        "values": {"task_kind": Project.TaskKind.TOOL_CALLING, "language": ""},
        **extra,
    }


@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST with a file: keep it and propose settings from it (nothing else is
    written). POST "create": make the project with what the engineer accepted, then import the
    kept file."""
    try:
        projects.require_creator(request.user)
    except CurationError as e:
        raise PermissionDenied(f"{e.message} {e.hint}") from None
    if request.method == "GET":
        return render(request, "curation/setup/new.html", _new_context())
    post = request.POST
    values = {
        k: post.get(k, "")
        for k in ("slug", "name", "task_kind", "language", "system_prompt", "format", "token")
    }
    values["use_project_tools"] = post.get("use_project_tools") == "on"
    context = _new_context(values=values)
    if post.get("action") == "preview" or request.FILES.get("file"):
        return _propose(request, context)
    tools, json_errors = _proposed_tools(post)
    context["tool_cards"] = _tool_cards(
        [json.loads(t) if _is_json(t) else t for t in post.getlist("tool_json")],
        keep={int(k) for k in post.getlist("tool_keep") if k.isdigit()},
    )
    try:
        if json_errors:
            raise InvalidInput(_("Some kept tools are not valid JSON."), where="tools")
        path = _kept_file(values["token"], request.user) if values["token"] else None
        project = projects.create_project(
            request.user,
            slug=values["slug"],
            name=values["name"],
            task_kind=values["task_kind"],
            language=values["language"],
            system_prompt=values["system_prompt"],
            tools=tools,
        )
        if path is not None:
            report = imports.import_file(
                project, path, actor=request.user, format_name=values["format"] or None
            )
            shutil.rmtree(path.parent, ignore_errors=True)
            if values["use_project_tools"] and project.tools:
                projects.adopt_project_tools(project, request.user)
            messages.success(
                request,
                _("Project created; %(n)s records imported (%(d)s duplicates skipped).")
                % {"n": report.imported, "d": report.duplicates},
            )
        else:
            messages.success(request, _("Project created."))
    except CurationError as e:
        context["error"] = e
        _field_errors(context, e, json_errors)
        return render(request, "curation/setup/new.html", context, status=e.status)
    return redirect("curation:project_members", slug=project.slug)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _field_errors(context: dict, error: CurationError, json_errors: dict) -> None:
    cards = context.get("tool_cards") or []
    kept = [c for c in cards if c["keep"]]
    for i, problems in json_errors.items():
        if i < len(cards):
            cards[i]["errors"] += problems
    for tool_error in getattr(error, "tool_errors", []):
        if tool_error.index < len(kept):
            kept[tool_error.index]["errors"].append(projects.tool_error_text(tool_error))


def _propose(request: HttpRequest, context: dict) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        context["error"] = InvalidInput(_("Choose a file to start from."), where="file")
        return render(request, "curation/setup/new.html", context, status=400)
    token, path = _keep_upload(upload, request.user)
    try:
        proposal = projects.propose_from_file(path, context["values"]["format"] or None)
    except CurationError as e:
        shutil.rmtree(path.parent, ignore_errors=True)
        context["error"] = e
        return render(request, "curation/setup/new.html", context, status=e.status)
    values = context["values"]
    values.update(token=token, task_kind=proposal.task_kind, format=proposal.preview.format)
    values["system_prompt"] = values["system_prompt"] or proposal.system_prompt
    if not values["slug"]:
        stem = "".join(c if c.isalnum() else "-" for c in Path(upload.name).stem.lower())
        values["slug"] = "-".join(filter(None, stem.split("-")))[:80]
    cards = _tool_cards(proposal.tools)
    for i, problems in proposal.tool_errors.items():
        cards[i]["errors"], cards[i]["keep"] = problems, False
    for card in cards:
        card["variants"] = proposal.variants.get(card["name"], 0)
    context.update(
        proposal=proposal,
        preview=proposal.preview,
        preview_rows=[
            (row, list(tool_parameters(row.tools)))
            for row in proposal.preview.rows[: imports.PREVIEW_ROWS]
        ],
        file_name=path.name,
        tool_cards=cards,
    )
    return render(request, "curation/setup/new.html", context)


# --- project settings ------------------------------------------------------------------------

SETTINGS_FORM = (
    "name",
    "description",
    "task_kind",
    "language",
    "system_prompt",
    "prompt_template",
    "annotation_overlap",
    "claim_timeout_minutes",
)


def _whole(text: str, name: str) -> int | None:
    text = (text or "").strip()
    if not text and name == "claim_timeout_minutes":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(
            _("%(field)s must be a whole number, not %(text)s.")
            % {"field": name, "text": repr(text)},
            where=name,
        ) from None


def _sample_record(project: Project, pk: str = "") -> Record | None:
    records = project.records.order_by("id")
    if pk.isdigit() and (record := records.filter(pk=int(pk)).first()):
        return record
    return records.exclude(tool_name="").first() or records.first()


def _rendering(project: Project, record: Record | None) -> dict:
    from training.prompt_setups import settings_preview
    from training.prompting import PromptError

    if record is None:
        return {"render_error": _("The project has no records yet: import some to see one.")}
    try:
        shown = settings_preview(
            project, chat_messages(record, with_answer=False), tools=record.tools
        )
    except PromptError as e:
        return {"render_error": f"{e.message} {e.hint}", "sample": record}
    return {"rendered": shown, "sample": record}


@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    context = {
        "project": project,
        "task_kinds": Project.TaskKind.choices,
        "languages": settings.LANGUAGES,
        "default_timeout": settings.TUNEDESK_CLAIM_TIMEOUT_MINUTES,
    }
    status = 200
    draft = project
    if request.method == "POST":
        draft = copy.copy(project)
        try:
            fields = {k: request.POST.get(k, "") for k in SETTINGS_FORM}
            for name in ("annotation_overlap", "claim_timeout_minutes"):
                fields[name] = _whole(fields[name], name)
            for name, value in fields.items():
                setattr(draft, name, value)
            projects.update_project(project, request.user, **fields)
        except CurationError as e:
            context["error"], status = e, e.status
        else:
            messages.success(request, _("Settings saved."))
            return redirect("curation:project_settings", slug=slug)
    context["values"] = draft
    context.update(_rendering(draft, _sample_record(project, request.GET.get("record", ""))))
    return render(request, "curation/setup/settings.html", context, status=status)


@require_POST
def project_render(request: HttpRequest, slug: str) -> HttpResponse:
    """The live rendering: the typed system prompt and template over one real record."""
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    draft = copy.copy(project)
    draft.system_prompt = request.POST.get("system_prompt", project.system_prompt)
    draft.prompt_template = request.POST.get("prompt_template", project.prompt_template)
    record = _sample_record(project, request.POST.get("record", ""))
    context = {"project": draft, **_rendering(draft, record)}
    return render(request, "curation/setup/settings.html#rendering", context)


# --- tools -----------------------------------------------------------------------------------


def _tool_from_card(data, i: int) -> dict | str:
    """Card i's name, description and parameters as a tool; the problem when the parameters
    are not JSON (the caller reports it on the field)."""

    def pick(key: str) -> str:
        return data.get(f"{key}-{i}", "")

    text = pick("parameters").strip() or "{}"
    try:
        parameters = json.loads(text)
    except json.JSONDecodeError as e:
        return _("Not valid JSON: %(error)s (line %(line)s, column %(col)s).") % {
            "error": e.msg,
            "line": e.lineno,
            "col": e.colno,
        }
    function = {
        "name": pick("name").strip(),
        "description": pick("description"),
        "parameters": parameters,
    }
    return {"type": "function", "function": function}


def _card(project: Project, index: int, tool, *, candidate: list | None) -> dict:
    """One tool card's state: field errors, the annotators' form, and what saving it breaks."""
    card = {"index": index, "errors": {}}
    if isinstance(tool, str):
        card["errors"]["parameters"] = [tool]
        return card
    function = tool["function"]
    card.update(
        name=function["name"],
        description=function.get("description", ""),
        parameters=json.dumps(function["parameters"], ensure_ascii=False, indent=2),
    )
    for error in check_tool_definitions(candidate or [tool]):
        if candidate is None or error.index == index:
            card["errors"].setdefault(error.field, []).append(projects.tool_error_text(error))
    if not card["errors"]:
        card["form"] = tool_forms([tool])[0]
        if candidate is not None:
            card["change"] = projects.tool_change(project, candidate)
    return card


def _saved_cards(project: Project) -> list[dict]:
    return [_card(project, i, tool, candidate=None) for i, tool in enumerate(project.tools or [])]


@require_http_methods(["GET", "POST"])
def project_tools(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    context, status = {"project": project}, 200
    if request.method == "POST":
        data = request.POST
        count = int(data["count"]) if data.get("count", "").isdigit() else 0
        tools = []
        for i in range(min(count, 1000)):
            blank = not (
                data.get(f"name-{i}", "").strip() or data.get(f"parameters-{i}", "").strip()
            )
            if data.get(f"remove-{i}") or blank:
                continue
            tools.append(_tool_from_card(data, i))
        candidate = [t for t in tools if isinstance(t, dict)]
        cards = [_card(project, i, t, candidate=None) for i, t in enumerate(tools)]
        try:
            if len(candidate) < len(tools):
                raise InvalidInput(_("Some parameters are not valid JSON."), where="parameters")
            change = projects.set_tools(project, request.user, candidate)
        except CurationError as e:
            for tool_error in getattr(e, "tool_errors", []):
                if tool_error.code != "duplicate_name":
                    continue  # the card's own check found the rest
                cards[tool_error.index]["errors"].setdefault(tool_error.field, []).append(
                    projects.tool_error_text(tool_error)
                )
            context.update(error=e, cards=cards)
            status = e.status
        else:
            messages.success(
                request,
                _("Tools saved; %(n)s records are newly flagged.") % {"n": change.broken_count},
            )
            return redirect("curation:project_tools", slug=slug)
    context.setdefault("cards", _saved_cards(project))
    context["new_index"] = len(context["cards"])
    context["flagged"] = project.records.filter(has_problems=True).count()
    return render(request, "curation/setup/tools.html", context, status=status)


@require_POST
def project_tools_check(request: HttpRequest, slug: str) -> HttpResponse:
    """One card checked as it is typed: errors on its fields, the annotators' form for it,
    and the records the change would make invalid."""
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    index_text = request.POST.get("index", "")
    index = int(index_text) if index_text.isdigit() else len(project.tools or [])
    tool = _tool_from_card(request.POST, index)
    candidate = None
    if isinstance(tool, dict):
        candidate = list(project.tools or [])
        if index < len(candidate):
            candidate[index] = tool
        else:
            index = len(candidate)
            candidate.append(tool)
    card = _card(project, index, tool, candidate=candidate)
    context = {
        "project": project,
        "card": card,
        "flagged": project.records.filter(has_problems=True).count(),
    }
    return render(request, "curation/setup/_tool_check.html", context)


# --- members ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for(request.user, slug, role=Role.ENGINEER)
    context, status = {"project": project, "roles": Role.choices}, 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "add":
                membership = members.add_member(
                    project,
                    request.user,
                    who=request.POST.get("user", ""),
                    role=request.POST.get("role", ""),
                )
                messages.success(
                    request,
                    _("%(user)s added as %(role)s.")
                    % {
                        "user": membership.user.get_username(),
                        "role": membership.get_role_display(),
                    },
                )
            elif action in ("role", "remove"):
                user = (
                    get_user_model()
                    .objects.filter(username=request.POST.get("username", ""))
                    .first()
                )
                if user is None:
                    raise InvalidInput(_("Choose a member."), where="user")
                if action == "role":
                    membership = members.change_role(
                        project, request.user, user, role=request.POST.get("role", "")
                    )
                    messages.success(
                        request,
                        _("%(user)s is now %(role)s.")
                        % {"user": user.get_username(), "role": membership.get_role_display()},
                    )
                else:
                    released = members.remove_member(project, request.user, user)
                    messages.success(
                        request,
                        _("%(user)s removed; %(n)s records they held went back to the queue.")
                        % {"user": user.get_username(), "n": released},
                    )
            else:
                raise InvalidInput(_("Choose add, change role or remove."))
        except CurationError as e:
            context["error"], status = e, e.status
            context["values"] = {
                "user": request.POST.get("user", ""),
                "role": request.POST.get("role", ""),
            }
        else:
            return redirect("curation:project_members", slug=slug)
    context["memberships"] = (
        Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    )
    return render(request, "curation/setup/members.html", context, status=status)
