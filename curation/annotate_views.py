"""Doors into the annotation workflow: queue, editor, review, records list, dashboard.

Each view checks the project role through selectors (outsiders 404, too-low roles 403),
calls one service and renders a page, or its named fragment for htmx requests.
"""

from __future__ import annotations

import json

import markdown
import nh3
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import CurationError, InvalidInput
from curation import (
    answers,
    dashboard,
    record_content,
    record_queries,
    selectors,
    shown,
    workflow,
)
from curation.models import ROLE_RANK, GuidelineVersion, Project, Record, Role

KEYS = "123456789"


# --- helpers -----------------------------------------------------------------------------


def _page(request: HttpRequest, template: str, fragment: str, context: dict, status: int = 200):
    name = f"{template}#{fragment}" if request.htmx else template
    return render(request, name, context, status=status)


def _notice(request, error: CurationError, *, extra: dict | None = None) -> HttpResponse:
    """An error fragment swapped into the editor's notice area, leaving the form as typed."""
    response = render(
        request,
        "curation/annotate/editor.html#notice",
        {"error": error, **(extra or {})},
        status=error.status,
    )
    response["HX-Retarget"] = "#notice"
    response["HX-Reswap"] = "innerHTML"
    return response


def _roles(project: Project, user) -> dict:
    held = workflow.role_in(project, user)
    rank = ROLE_RANK[held] if held else 0
    return {
        "is_reviewer": rank >= ROLE_RANK[Role.REVIEWER],
        "is_engineer": rank >= ROLE_RANK[Role.ENGINEER],
    }


def _project(request: HttpRequest, slug: str, role: str) -> Project:
    project = selectors.project_for(request.user, slug, role=role)
    project._role_cache = {request.user.pk: project.user_role}
    return project


def _record(request: HttpRequest, pk: int, role: str) -> Record:
    record = selectors.record_for(request.user, pk, role=role)
    record.project._role_cache = {request.user.pk: record.project.user_role}
    return record


def render_markdown(text: str) -> str:
    html = markdown.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"])
    return nh3.clean(html)


def _guidelines(project: Project) -> dict:
    version = project.guideline_versions.first()
    return {
        "guidelines_html": render_markdown(project.guidelines),
        "guideline_number": version.number if version else None,
    }


def _field(name: str, schema: dict, required: bool) -> dict:
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "enum" in schema:
        widget = "select"
    elif kind in ("integer", "number"):
        widget = "number"
    elif kind == "boolean":
        widget = "boolean"
    elif kind in ("object", "array"):
        widget = "json"
    else:
        widget = "textarea" if (schema.get("maxLength") or 0) > 200 else "text"
    return {
        "name": name,
        "type": kind,
        "widget": widget,
        "required": required,
        "description": schema.get("description", ""),
        "enum": [
            json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
            for v in schema.get("enum", [])
        ],
        "step": "1" if kind == "integer" else "any",
        "minimum": schema.get("minimum", schema.get("exclusiveMinimum", "")),
        "maximum": schema.get("maximum", schema.get("exclusiveMaximum", "")),
    }


def tool_forms(tools: list[dict]) -> list[dict]:
    """Each tool's JSON Schema as form fields (the editor builds the arguments from them)."""
    forms = []
    for i, tool in enumerate(tools):
        function = tool.get("function", tool)
        parameters = function.get("parameters") or {}
        required = set(parameters.get("required") or [])
        forms.append(
            {
                "name": function.get("name", ""),
                "description": function.get("description", ""),
                "key": KEYS[i] if i < len(KEYS) else "",
                "fields": [
                    _field(name, schema or {}, name in required)
                    for name, schema in (parameters.get("properties") or {}).items()
                ],
            }
        )
    return forms


def _blind_state(record: Record, kind: str) -> dict:
    if kind == answers.INSTRUCTION:
        return {"output": ""}
    if kind == answers.TOOL_CALL:
        return answers.tool_state(None)
    state = answers.state_from_record(record, record.drafts.all()[:5])
    state["candidates"] = [
        {**c, "mark": ""}
        for c in state["candidates"]
        if c["source"] not in ("answer", "chosen", "rejected")
    ]
    return state


def editor_context(request: HttpRequest, record: Record, *, mode: str) -> dict:
    user = request.user
    project = record.project
    kind = answers.editor_kind(record)
    drafts = list(record.drafts.all()[:5])
    wip = workflow.work_in_progress(record, user) if mode != workflow.READ_ONLY else None
    version, restored, stale_wip = record.version, None, False
    if wip and wip.data.get("state") and wip.data.get("kind") == kind:
        state, restored = wip.data["state"], wip.updated_at
        version = wip.base_version
        stale_wip = wip.base_version < record.version
    elif mode == workflow.OVERLAP:
        state = _blind_state(record, kind)
    else:
        state = answers.state_from_record(record, drafts)
    draft = drafts[0] if drafts else None
    draft_answer = None
    if draft is not None:
        draft_answer = record_content.draft_answer(record, draft)
    tools = answers.tools_of(record)
    context = {
        "record": record,
        "project": project,
        "kind": kind,
        "mode": mode,
        "state": state,
        "version": version,
        "restored": restored,
        "stale_wip": stale_wip,
        "drafts": drafts,
        "draft": draft,
        "draft_state": answers.tool_state(draft_answer)
        if kind == answers.TOOL_CALL and draft
        else None,
        "draft_text": draft_answer
        if isinstance(draft_answer, str)
        else record_content.answer_text(draft_answer),
        "tool_forms": tool_forms(tools) if kind == answers.TOOL_CALL else [],
        "candidates": [
            {
                **c,
                "json": json.dumps(c["messages"], ensure_ascii=False),
                "text": "\n\n".join(record_content.answer_text(m) for m in c["messages"]),
            }
            for c in state.get("candidates", [])
        ],
        "messages_state": [
            {**m, "rest_json": json.dumps(m.get("rest", {}), ensure_ascii=False), **seen}
            for m, seen in zip(state.get("messages", []), _seen(state), strict=False)
        ],
        "holder": record.assignee if mode == workflow.READ_ONLY else None,
        **_roles(project, user),
        **_guidelines(project),
    }
    if kind == answers.TOOL_CALL:
        context["prompt_messages"] = record_content.prompt_of(record)
    return context


def _seen(state: dict) -> list[dict]:
    """For each prompt message of a conversation state: the tools it calls and the call a
    tool result answers, so the editor labels them as calls and results."""
    messages = []
    for m in state.get("messages", []):
        try:
            calls = json.loads(m.get("tool_calls_json") or "[]")
        except json.JSONDecodeError:
            calls = []
        rest = m.get("rest") or {}
        messages.append({"role": m.get("role"), "tool_calls": calls, **rest})
    return [
        {
            "result_of": v["result_of"],
            "calls": v["calls"],
            "call_names": ", ".join(c["name"] for c in v["calls"]),
        }
        for v in shown.shown_messages(messages)
    ]


def _editor(request: HttpRequest, record: Record, *, mode: str, status: int = 200, **extra):
    context = editor_context(request, record, mode=mode) | extra
    return _page(request, "curation/annotate/editor.html", "workspace", context, status=status)


def _state(request: HttpRequest, record: Record) -> dict:
    return answers.state_from_form(answers.editor_kind(record), request.POST)


def _version(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        raise InvalidInput(
            _("The form has no version."), hint=_("Reload the record and try again.")
        ) from None


# --- queue -------------------------------------------------------------------------------


@require_GET
def queue(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, Role.ANNOTATOR)
    context = {
        "project": project,
        "queue": record_queries.my_queue(project, request.user),
        **_roles(project, request.user),
        **_guidelines(project),
    }
    return render(request, "curation/annotate/queue.html", context)


@require_POST
def take_next(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, Role.ANNOTATOR)
    try:
        record = workflow.next_record(project, request.user)
    except CurationError as e:
        messages.error(request, f"{e.message} {e.hint}")
        return redirect("curation:annotate_queue", slug=slug)
    if record is None:
        messages.info(request, _("Nothing left in your queue. Thank you!"))
        return redirect("curation:annotate_queue", slug=slug)
    return redirect("curation:record_edit", pk=record.pk)


# --- the editor --------------------------------------------------------------------------


@require_GET
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk, Role.ANNOTATOR)
    mode = workflow.open_record(record, request.user)
    return _editor(request, record, mode=mode)


@require_POST
def autosave(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk, Role.ANNOTATOR)
    try:
        wip = workflow.autosave(
            record, request.user, base_version=_version(request), state=_state(request, record)
        )
    except CurationError as e:
        return JsonResponse(e.as_dict(), status=e.status)
    return JsonResponse({"saved_at": timezone.localtime(wip.updated_at).strftime("%H:%M:%S")})


@require_POST
def check(request: HttpRequest, pk: int) -> HttpResponse:
    """Live validation: the answer's problems as the editor would submit it."""
    record = _record(request, pk, Role.ANNOTATOR)
    problems, error, calls = [], None, False
    try:
        content = answers.content_from_state(record, _state(request, record))
        problems = answers.answer_problems(record, content)
        answer = record_content.answer(record, content)
        calls = isinstance(answer, dict) and bool(answer.get("tool_calls"))
    except CurationError as e:
        error = e
    # "Matches the tool's schema" only where a tool is called: a text answer has no schema.
    return render(
        request,
        "curation/annotate/editor.html#problems",
        {"problems": problems, "error": error, "checked": calls},
    )


def _conflict(request, record, e: workflow.EditConflict, state: dict) -> HttpResponse:
    workflow.keep_conflicting_work(record, request.user, version=_version(request), state=state)
    mine = record_content.answer(record, e.mine)
    theirs = record_content.answer(e.theirs)
    return _notice(
        request,
        e,
        extra={
            "conflict": e,
            "mine_text": record_content.answer_text(mine),
            "theirs_text": record_content.answer_text(theirs),
            "theirs_version": e.theirs.version,
            "record": record,
        },
    )


@require_POST
def save(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk, Role.ANNOTATOR)
    state = {}
    try:
        state = _state(request, record)
        record = workflow.save_record(record, request.user, version=_version(request), state=state)
    except workflow.EditConflict as e:
        return _conflict(request, record, e, state)
    except CurationError as e:
        return _notice(request, e)
    return render(request, "curation/annotate/editor.html#saved", {"record": record, "saved": True})


@require_POST
def submit(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk, Role.ANNOTATOR)
    state = {}
    try:
        state = _state(request, record)
        workflow.submit_record(record, request.user, version=_version(request), state=state)
    except workflow.EditConflict as e:
        return _conflict(request, record, e, state)
    except CurationError as e:
        return _notice(request, e)
    return _after(request, record.project, message=_("Submitted #%(pk)s.") % {"pk": record.pk})


def _after(request: HttpRequest, project: Project, *, message: str) -> HttpResponse:
    """The next record's editor in place of the finished one (or the empty queue)."""
    nxt = workflow.next_record(project, request.user)
    if nxt is None:
        response = render(
            request,
            "curation/annotate/editor.html#done",
            {"project": project, "flash": message},
        )
        response["HX-Push-Url"] = reverse("curation:annotate_queue", args=[project.slug])
        return response
    mode = workflow.open_record(nxt, request.user)
    context = editor_context(request, nxt, mode=mode) | {"flash": message}
    response = render(request, "curation/annotate/editor.html#workspace", context)
    response["HX-Push-Url"] = reverse("curation:record_edit", args=[nxt.pk])
    return response


@require_POST
def skip(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk, Role.ANNOTATOR)
    try:
        workflow.skip_record(record, request.user)
    except CurationError as e:
        return _notice(request, e)
    return _after(request, record.project, message=_("Skipped #%(pk)s.") % {"pk": record.pk})


@require_POST
def discard(request: HttpRequest, pk: int) -> HttpResponse:
    """Drop the autosaved work and show the record as stored (\"take theirs\")."""
    record = _record(request, pk, Role.ANNOTATOR)
    workflow.WorkInProgress.objects.filter(record=record, user=request.user).delete()
    mode = workflow.editor_mode(record, request.user)
    return _editor(request, record, mode=mode, flash=_("Showing the stored version."))


@require_GET
def history(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk, Role.ANNOTATOR)
    events = record_queries.history(record)
    if workflow.role_in(record.project, request.user) == Role.ANNOTATOR:
        # Blind overlap: annotators do not see others' answers in the history.
        events = [e for e in events if e.actor_id == request.user.pk or e.action != "annotate"]
    context = {
        "record": record,
        "events": events,
        "project": record.project,
        **_roles(record.project, request.user),
    }
    # The editor's side panel fetches the fragment; opened directly it is a page.
    return _page(request, "curation/annotate/history.html", "history", context)


# --- review ------------------------------------------------------------------------------


@require_GET
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, Role.REVIEWER)
    records = list(record_queries.review_queue(project)[:100])
    context = {"project": project, "records": records, **_roles(project, request.user)}
    return render(request, "curation/review/queue.html", context)


def review_context(request: HttpRequest, record: Record) -> dict:
    kind = answers.editor_kind(record)
    baseline = workflow.baseline_answer(record)
    final = record_content.answer(record)
    context = {
        "record": record,
        "project": record.project,
        "kind": kind,
        "has_draft": record.drafts.exists(),
        "baseline_text": record_content.answer_text(baseline),
        "final_text": record_content.answer_text(final),
        "segments": record_content.diff_segments(
            record_content.answer_text(baseline), record_content.answer_text(final)
        ),
        "events": record_queries.history(record)[:20],
        **_roles(record.project, request.user),
        **_guidelines(record.project),
    }
    if kind != answers.INSTRUCTION:
        context["prompt_messages"] = record_content.prompt_of(record)
        if any(isinstance(a, dict) and a.get("tool_calls") for a in (baseline, final)):
            context["argument_rows"] = answers.argument_rows(baseline, final)
    if record.rejected:
        context["rejected_text"] = "\n\n".join(
            record_content.answer_text(m) for m in record.rejected
        )
    # Calls in the prompt read as calls, their results as results (not raw JSON).
    context["prompt_shown"] = shown.shown_messages(context.get("prompt_messages") or [])
    if context.get("argument_rows"):
        # A reply may carry text beside its tool calls: the table shows the calls, this diff
        # the text, so every field the record stores is in front of the reviewer.
        before, after = (_text_beside_calls(a) for a in (baseline, final))
        segments = record_content.diff_segments(before, after) if before or after else []
        context["text_segments"] = segments
        # The table compares the first call; with more calls, the whole answer is diffed.
        if max(len(record_content.calls(a)) for a in (baseline, final)) > 1:
            context["text_segments"], context["every_call"] = context["segments"], True
    return context


def _text_beside_calls(answer) -> str:
    if isinstance(answer, dict):
        return answer.get("content") if isinstance(answer.get("content"), str) else ""
    return answer or ""


@require_GET
def review(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk, Role.REVIEWER)
    return _page(request, "curation/review/record.html", "review", review_context(request, record))


def _next_review(request: HttpRequest, project: Project, *, message: str) -> HttpResponse:
    nxt = record_queries.review_queue(project).first()
    if nxt is None:
        messages.success(request, message)
        url = reverse("curation:review_queue", args=[project.slug])
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)
    if request.htmx:
        context = review_context(request, nxt) | {"flash": message}
        response = render(request, "curation/review/record.html#review", context)
        response["HX-Push-Url"] = reverse("curation:review_record", args=[nxt.pk])
        return response
    messages.success(request, message)
    return redirect("curation:review_record", pk=nxt.pk)


@require_POST
def review_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    record = _record(request, pk, Role.REVIEWER)
    try:
        if action == "accept":
            workflow.accept_record(record, request.user, version=_version(request))
            message = _("Accepted #%(pk)s.") % {"pk": record.pk}
        else:
            workflow.send_back(
                record,
                request.user,
                version=_version(request),
                comment=request.POST.get("comment", ""),
            )
            message = _("Sent #%(pk)s back.") % {"pk": record.pk}
    except CurationError as e:
        record.refresh_from_db()
        context = review_context(request, record) | {"error": e}
        return _page(request, "curation/review/record.html", "review", context, status=e.status)
    return _next_review(request, record.project, message=message)


# --- records list, bulk, dashboard, guidelines -------------------------------------------


def _list_context(request: HttpRequest, project: Project) -> dict:
    f = record_queries.RecordFilter.from_params(request.GET)
    after = request.GET.get("after", "")
    page = record_queries.records_page(project, f, after=int(after) if after.isdigit() else None)
    params = f.as_params()
    return {
        "project": project,
        "filter": f,
        "page": page,
        "params": params,
        "statuses": Record.Status.choices,
        "splits": Record.Split.choices,
        "tools": project.tool_names,
        "tags": list(project.tags.values_list("name", flat=True)),
        "members": list(
            get_user_model().objects.filter(memberships__project=project).order_by("username")
        ),
        "annotators": list(
            get_user_model()
            .objects.filter(memberships__project=project, memberships__role=Role.ANNOTATOR)
            .order_by("username")
        ),
        "no_tool": record_queries.NO_TOOL,
        **_roles(project, request.user),
    }


@require_GET
def records(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, Role.REVIEWER)
    return _page(request, "curation/records/list.html", "results", _list_context(request, project))


@require_POST
def bulk(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, Role.REVIEWER)
    ids = request.POST.getlist("ids")
    action = request.POST.get("action", "")
    user = request.user
    try:
        if action == "assign":
            who = request.POST.get("assignee", "")
            people = list(get_user_model().objects.filter(pk=who)) if who.isdigit() else None
            shares = workflow.assign_records(project, user, ids, assignees=people)
            text = ", ".join(f"{name}: {n}" for name, n in shares.items())
            messages.success(request, _("Assigned (%(shares)s).") % {"shares": text})
        elif action == "tag":
            n = workflow.tag_records(project, user, ids, tag=request.POST.get("tag", ""))
            messages.success(request, _("Tagged %(n)s records.") % {"n": n})
        elif action == "split":
            result = workflow.move_split(project, user, ids, split=request.POST.get("split", ""))
            messages.success(
                request,
                _("Moved %(moved)s records; %(locked)s already exported kept their split.")
                % result,
            )
        elif action == "review":
            n = workflow.send_to_review(project, user, ids)
            messages.success(request, _("Sent %(n)s records to review.") % {"n": n})
        else:
            raise InvalidInput(_("Choose an action."), where="action")
    except CurationError as e:
        messages.error(request, f"{e.message} {e.hint}")
    back = reverse("curation:records", args=[slug])
    query = request.POST.get("query", "")
    return redirect(f"{back}?{query}" if query else back)


@require_GET
def progress(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, Role.REVIEWER)
    context = {
        "project": project,
        "board": dashboard.dashboard(project),
        **_roles(project, request.user),
    }
    return render(request, "curation/dashboard.html", context)


def guidelines(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, Role.ANNOTATOR)
    error = None
    if request.method == "POST":
        try:
            version = workflow.save_guidelines(
                project, request.user, text=request.POST.get("text", "")
            )
            messages.success(request, _("Saved as version %(n)s.") % {"n": version.number})
            return redirect("curation:guidelines", slug=slug)
        except CurationError as e:
            error = e
    shown = None
    if (number := request.GET.get("v", "")).isdigit():
        shown = GuidelineVersion.objects.filter(project=project, number=int(number)).first()
    context = {
        "project": project,
        "versions": list(project.guideline_versions.select_related("created_by")[:50]),
        "shown": shown,
        "shown_html": render_markdown(shown.text) if shown else "",
        "error": error,
        **_roles(project, request.user),
        **_guidelines(project),
    }
    return render(
        request, "curation/annotate/guidelines.html", context, status=error.status if error else 200
    )
