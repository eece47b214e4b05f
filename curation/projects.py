"""Setting a project up: create it (the one way every door creates one), change its settings
and tools, and propose settings from a data file.

Checks come first and raise CurationError subclasses naming the field (`where`); the write
follows and leaves an AuditEvent.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotAllowed
from curation import imports
from curation.models import AuditEvent, Membership, Project, Record, Role
from curation.rowprep import content_hash, row_content, tool_problems
from curation.rows import record_to_row
from curation.toolcheck import ToolError, check_tool_calls, check_tool_definitions, openai_tool

#: Lower-case letters, digits, - and _, starting and ending with a letter or digit. Slugs name
#: folders (uploads, exports), so nothing that could climb out of one ("../../x") gets in.
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,78}[a-z0-9])?$")
#: Names the app's own URLs use next to project slugs.
RESERVED_SLUGS = frozenset({"new", "admin", "api", "static"})
#: Rows read from a file to propose the project's tools and system prompt.
PROPOSE_ROWS = 2000
#: Fields update_project changes; the rest have their own services.
SETTINGS_FIELDS = (
    "name",
    "description",
    "task_kind",
    "language",
    "system_prompt",
    "prompt_template",
    "annotation_overlap",
    "claim_timeout_minutes",
)


class SlugTaken(InvalidInput):
    status = 409
    code = "conflict"


def validate_slug(slug: object) -> str:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidInput(
            _("%(slug)s is not a valid project slug.") % {"slug": repr(slug)},
            hint=_(
                "use 1 to 80 lower-case letters, digits, - or _, starting and ending with a "
                "letter or digit, e.g. live-shop"
            ),
            where="slug",
        )
    if slug in RESERVED_SLUGS:
        raise InvalidInput(
            _("%(slug)s is reserved.") % {"slug": repr(slug)},
            hint=_("choose another slug"),
            where="slug",
        )
    return slug


def can_create_projects(user) -> bool:
    """Who may create projects: the TUNEDESK_PROJECT_CREATORS setting."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    who = settings.TUNEDESK_PROJECT_CREATORS
    if who == "everyone":
        return True
    if who == "engineers":
        return user.is_staff or Membership.objects.filter(user=user, role=Role.ENGINEER).exists()
    return False


def require_creator(user) -> None:
    if not can_create_projects(user):
        raise NotAllowed(
            _("You may not create projects."),
            hint=_("ask an administrator (the setting TUNEDESK_PROJECT_CREATORS says who may)"),
        )


def tool_error_text(error: ToolError) -> str:
    """A tool definition problem in the user's language, with its fix."""
    d = error.detail
    if error.code == "bad_schema":
        where = _(" at %(at)s") % d if d.get("at") else ""
        return _("Not a valid JSON Schema%(where)s: %(error)s. Fix the schema.") % {
            "where": where,
            "error": d["error"],
        }
    templates = {
        "not_list": lambda: _("The tools are %(kind)s, not a list."),
        "not_object": lambda: _("The tool is %(kind)s, not an object."),
        "bad_type": lambda: _('"type" must be "function".'),
        "bad_name": lambda: _("%(name)s is not a tool name: use 1 to 64 letters, digits, _ or -."),
        "duplicate_name": lambda: _("%(name)s is defined twice: rename or remove one."),
        "not_text": lambda: _("The description must be text."),
        "parameters_not_object": lambda: _(
            "The parameters are %(kind)s, not a JSON Schema object."
        ),
        "parameters_not_object_type": lambda: _(
            'The parameters schema has "type" %(type)s: arguments are a JSON object, so use '
            '"type": "object" with "properties".'
        ),
    }
    template = templates.get(error.code)
    return template() % d if template else error.message


def clean_tools(tools: object) -> list[dict]:
    """The tools in the OpenAI shape, or InvalidInput listing every problem."""
    errors = check_tool_definitions(tools)
    if errors:
        failure = InvalidInput(
            "; ".join(
                _("tool %(n)s, %(field)s: %(text)s")
                % {"n": e.index + 1, "field": e.field, "text": tool_error_text(e)}
                for e in errors
            ),
            hint=_("correct the tool definitions named above"),
            where="tools",
        )
        failure.tool_errors = errors
        failure.api_extra = {
            "tool_errors": [
                {
                    "index": e.index,
                    "field": e.field,
                    "code": e.code,
                    "message": tool_error_text(e),
                }
                for e in errors
            ]
        }
        raise failure
    return [openai_tool(t) for t in tools]


def _clean(fields: dict) -> dict:
    cleaned = dict(fields)
    for name, value in cleaned.items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(
                _("%(field)s holds a NUL character.") % {"field": name},
                hint=_("remove it"),
                where=name,
            )
    if "name" in cleaned:
        cleaned["name"] = str(cleaned["name"] or "").strip()
        if not cleaned["name"]:
            raise InvalidInput(
                _("The name is empty."), hint=_("give the project a name"), where="name"
            )
        if len(cleaned["name"]) > 200:
            raise InvalidInput(
                _("The name is longer than 200 characters."), hint=_("shorten it"), where="name"
            )
    if "task_kind" in cleaned and cleaned["task_kind"] not in Project.TaskKind.values:
        raise InvalidInput(
            _("%(kind)s is not a task kind.") % {"kind": repr(cleaned["task_kind"])},
            hint=_("use one of %(kinds)s") % {"kinds": ", ".join(Project.TaskKind.values)},
            where="task_kind",
        )
    codes = [code for code, _name in settings.LANGUAGES]
    if cleaned.get("language") and cleaned["language"] not in codes:
        raise InvalidInput(
            _("%(lang)s is not a language Tunedesk knows.") % {"lang": repr(cleaned["language"])},
            hint=_("use one of %(codes)s, or leave it empty") % {"codes": ", ".join(codes)},
            where="language",
        )
    for name, low, high in (("annotation_overlap", 1, 10), ("claim_timeout_minutes", 1, 10080)):
        value = cleaned.get(name)
        if value is None and name == "claim_timeout_minutes":
            continue
        if name in cleaned and (type(value) is not int or not low <= value <= high):
            raise InvalidInput(
                _("%(field)s must be a whole number from %(low)s to %(high)s.")
                % {"field": name, "low": low, "high": high},
                hint=_("change the number"),
                where=name,
            )
    for name in ("description", "system_prompt", "prompt_template"):
        if name in cleaned and not isinstance(cleaned[name], str):
            raise InvalidInput(_("%(field)s must be text.") % {"field": name}, where=name)
    template = cleaned.get("prompt_template")
    if template is not None and "{response}" not in template:
        raise InvalidInput(
            _("The prompt template has no {response} placeholder."),
            hint=_("end it with the place the answer goes, e.g. ### response\\n{response}"),
            where="prompt_template",
        )
    return cleaned


@transaction.atomic
def create_project(actor, *, slug: str, name: str = "", tools: object = (), **fields) -> Project:
    """A new project; `actor` (None for a command run on the server) becomes its engineer.

    The only place projects are created: the new-project page, the API, the admin and
    `import_records --create` all come here, so every slug is checked the same way.
    """
    if actor is not None:
        require_creator(actor)
    slug = validate_slug(slug)
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(_("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    cleaned = _clean({"name": name or slug, **fields})
    if cleaned.get("prompt_template") in (None, ""):
        cleaned.pop("prompt_template", None)
    tools = clean_tools(list(tools or []))
    if Project.objects.filter(slug=slug).exists():
        raise SlugTaken(
            _("There is already a project %(slug)s.") % {"slug": repr(slug)},
            hint=_("choose another slug"),
            where="slug",
        )
    project = Project.objects.create(slug=slug, tools=tools, **cleaned)
    if actor is not None and not actor.is_superuser:  # superusers are engineers everywhere
        Membership.objects.create(project=project, user=actor, role=Role.ENGINEER)
    AuditEvent.objects.create(
        actor=actor,
        project=project,
        action="project_create",
        target=slug,
        data={"task_kind": project.task_kind, "tools": [t["function"]["name"] for t in tools]},
    )
    return project


def _require_engineer(project: Project, actor) -> None:
    if not project.has_role(actor, Role.ENGINEER):
        raise NotAllowed(
            _("Only engineers of this project can change its settings."),
            hint=_("ask an engineer of this project"),
        )


@transaction.atomic
def update_project(project: Project, actor, **fields) -> Project:
    _require_engineer(project, actor)
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidInput(
            _("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))},
            hint=_("change one of %(f)s") % {"f": ", ".join(SETTINGS_FIELDS)},
        )
    cleaned = _clean(fields)
    changed = [k for k, v in cleaned.items() if getattr(project, k) != v]
    for key in changed:
        setattr(project, key, cleaned[key])
    if changed:
        project.save(update_fields=changed)
        AuditEvent.objects.create(
            actor=actor,
            project=project,
            action="project_update",
            target=project.slug,
            data={"fields": changed},
        )
    return project


def create_project_for_file(
    slug: str, path: Path, *, format_name: str | None = None, mapping: dict | None = None
) -> Project:
    """A new project named `slug` whose task kind is guessed from the file's first rows (for
    `import_records --create`, run on the server: no actor)."""
    preview = imports.preview_file(Path(path), format_name, mapping=mapping)
    if not preview.rows:
        first = preview.errors[0]["text"] if preview.errors else "no rows were found"
        raise InvalidInput(
            f"cannot guess the task kind of {Path(path).name}: {first}",
            hint="fix the file, or create the project first",
        )
    return create_project(None, slug=slug, task_kind=preview.task_kind)


# --- tools and the records they check ----------------------------------------------------------


def _uses_project_tools(project: Project):
    """Records checked against the project's tools: those without tools of their own."""
    from django.db.models import Q

    return project.records.filter(Q(tools__isnull=True) | Q(tools=[]))


def _calling(records):
    """Records that may call a tool anywhere (mid-conversation calls leave tool_name empty)."""
    from django.db.models import Q

    calls = Q()
    for name in ("messages", "chosen", "rejected"):
        calls |= Q(**{f"{name}__icontains": '"tool_calls"'})
    return records.filter(Q(has_problems=True) | ~Q(tool_name="") | calls)


def _problems(record: Record, tools: list) -> list[dict]:
    return tool_problems(record_to_row(record), tools)


def _worded(record: Record, tools: list) -> str:
    """The record's first tool-call problem as the editor words it, in the user's language."""
    from curation.answers import _describe  # the editor's wording: one place for it

    found = check_tool_calls(record_to_row(record), record.tools or tools)
    return " ".join(_describe(found[0])) if found else ""


@dataclass
class ToolChange:
    """What saving `tools` would do to the project's records."""

    broken: list[dict] = field(default_factory=list)  # {"id", "preview", "problem"}, the first few
    broken_count: int = 0
    flagged_now: int = 0
    own_tools: int = 0  # records with their own tools, which the project's don't check


def tool_change(project: Project, tools: list, *, limit: int = 20) -> ToolChange:
    """Records that are fine now and would be flagged with `tools`, and the count flagged now."""
    change = ToolChange(
        flagged_now=project.records.filter(has_problems=True).count(),
        own_tools=project.records.exclude(tools__isnull=True).exclude(tools=[]).count(),
    )
    for record in _calling(_uses_project_tools(project)).iterator(chunk_size=500):
        if record.has_problems:
            continue
        problems = _problems(record, tools)
        if problems:
            change.broken_count += 1
            if len(change.broken) < limit:
                change.broken.append(
                    {
                        "id": record.pk,
                        "preview": record.preview(60),
                        "problem": _worded(record, tools) or problems[0]["message"],
                    }
                )
    return change


def recheck_records(project: Project, records=None) -> int:
    """Store each record's tool-call problems against the tools that now check it; returns the
    number flagged."""
    records = _calling(_uses_project_tools(project)) if records is None else records
    changed = []
    for record in records.iterator(chunk_size=500):
        problems = _problems(record, project.tools or [])
        if problems != record.problems:
            record.problems, record.has_problems = problems, bool(problems)
            changed.append(record)
    Record.objects.bulk_update(changed, ["problems", "has_problems"], batch_size=500)
    return project.records.filter(has_problems=True).count()


@transaction.atomic
def set_tools(project: Project, actor, tools: object) -> ToolChange:
    """Replace the project's tools and re-flag the records they check."""
    _require_engineer(project, actor)
    tools = clean_tools(tools)
    change = tool_change(project, tools)
    before = project.tool_names
    project.tools = tools
    project.save(update_fields=["tools"])
    recheck_records(project)
    AuditEvent.objects.create(
        actor=actor,
        project=project,
        action="tools_update",
        target=project.slug,
        data={
            "before": before,
            "after": project.tool_names,
            "newly_flagged": change.broken_count,
        },
    )
    return change


@transaction.atomic
def adopt_project_tools(project: Project, actor) -> int:
    """Drop the tools each record carries so the project's tools check and prompt them all
    (a file such as glaive's gives every row its own copy). Returns the records changed."""
    _require_engineer(project, actor)
    changed = []
    for record in project.records.exclude(tools__isnull=True).iterator(chunk_size=500):
        record.tools = None
        record.content_hash = content_hash(row_content(record_to_row(record)))
        changed.append(record)
    Record.objects.bulk_update(changed, ["tools", "content_hash"], batch_size=500)
    recheck_records(project, project.records.filter(pk__in=[r.pk for r in changed]))
    return len(changed)


# --- proposals from a file -----------------------------------------------------------------


@dataclass
class Proposal:
    """What a data file suggests for a new project; nothing is written."""

    preview: imports.Preview
    task_kind: str
    system_prompt: str
    tools: list[dict]
    tool_errors: dict[int, list[str]]  # tool index -> problems (translated)
    variants: dict[str, int]  # tool name -> definitions found beyond the first
    rows_read: int


def propose_from_file(path: Path, format_name: str | None = None) -> Proposal:
    """Task kind, system prompt and tools from a file's first PROPOSE_ROWS rows: tools found in
    the rows (their own tool lists), de-duplicated by name (the first definition kept) and each
    checked; the system prompt when most rows share one."""
    preview = imports.preview_file(Path(path), format_name or None, limit=PROPOSE_ROWS)
    tools: dict[str, dict] = {}
    variants: Counter = Counter()
    systems: Counter = Counter()
    for row in preview.rows:
        systems[(row.system or "").strip()] += 1
        for tool in row.tools or []:
            shaped = openai_tool(tool) if isinstance(tool, dict) else None
            function = shaped["function"] if shaped else None
            name = function.get("name") if isinstance(function, dict) else None
            if not isinstance(name, str):
                continue
            if name not in tools:
                tools[name] = shaped
            elif tools[name] != shaped:
                variants[name] += 1
    proposed = list(tools.values())
    errors: dict[int, list[str]] = {}
    for error in check_tool_definitions(proposed):
        errors.setdefault(error.index, []).append(tool_error_text(error))
    system, count = systems.most_common(1)[0] if systems else ("", 0)
    return Proposal(
        preview=preview,
        task_kind=preview.task_kind or Project.TaskKind.INSTRUCTION,
        system_prompt=system if count * 2 > len(preview.rows) else "",
        tools=proposed,
        tool_errors=errors,
        variants=dict(variants),
        rows_read=len(preview.rows),
    )
