"""What the API reads and writes. Output serializers mirror the models; input serializers
check only shapes and types, the services check everything else."""

from __future__ import annotations

from functools import cache

from rest_framework import serializers

from curation import answers, selectors
from curation.formats import FORMATS
from curation.models import Draft, ExportSnapshot, Project, Record, Role
from curation.record_queries import RecordFilter
from jobs.models import Job
from training.bfcl import CATEGORIES as BFCL_CATEGORIES
from training.models import Comparison, TrainingRun

#: Formats whose rows are JSON objects (CSV rows come as files, through the import page).
READABLE_FORMATS = sorted(
    n for n, m in FORMATS.items() if "read" in getattr(m, "CAPABILITIES", ()) and n != "csv"
)
WRITABLE_FORMATS = sorted(
    n for n, m in FORMATS.items() if "write" in getattr(m, "CAPABILITIES", ())
)
MAX_BULK_ROWS = 10_000


# --- output ----------------------------------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this project.")
    record_count = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "task_kind",
            "system_prompt",
            "prompt_template",
            "tools",
            "guidelines",
            "annotation_overlap",
            "language",
            "claim_timeout_minutes",
            "role",
            "record_count",
            "created_at",
        ]

    def get_role(self, project: Project) -> str | None:
        return getattr(project, "user_role", None) or project.role_of(self.context["request"].user)

    def get_record_count(self, project: Project) -> int:
        count = getattr(project, "record_count", None)
        return count if count is not None else project.records.count()


class ProjectDetailSerializer(ProjectSerializer):
    counts = serializers.SerializerMethodField(help_text="Records per status.")

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "counts"]

    def get_counts(self, project: Project) -> dict[str, int]:
        return selectors.status_counts(project)


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()


class RecordSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    submitted_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    reviewed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Record
        fields = [
            "id",
            "project",
            "kind",
            "system",
            "instruction",
            "input",
            "output",
            "history",
            "messages",
            "tools",
            "chosen",
            "rejected",
            "extra",
            "status",
            "assignee",
            "split",
            "tags",
            "source",
            "tool_name",
            "problems",
            "version",
            "review_comment",
            "content_hash",
            "created_at",
            "updated_at",
            "submitted_at",
            "submitted_by",
            "reviewed_at",
            "reviewed_by",
        ]
        read_only_fields = fields


class EditorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[answers.INSTRUCTION, answers.TOOL_CALL, answers.CONVERSATION],
        help_text="Which editor state shape `state` has.",
    )
    state = serializers.DictField(help_text="Send it back, edited, to update or submit.")


class RecordDetailSerializer(RecordSerializer):
    editor = serializers.SerializerMethodField()

    class Meta(RecordSerializer.Meta):
        fields = [*RecordSerializer.Meta.fields, "editor"]
        read_only_fields = fields

    def get_editor(self, record: Record) -> EditorSerializer:
        return {
            "kind": answers.editor_kind(record),
            "state": answers.state_from_record(record),
        }


class ConflictTheirsSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    by = serializers.CharField()
    answer = serializers.JSONField()
    record = RecordSerializer()


class DraftSerializer(serializers.ModelSerializer):
    class Meta:
        model = Draft
        fields = [
            "id",
            "record",
            "model_name",
            "text",
            "parse_status",
            "tool_calls",
            "problems",
            "settings",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
            "job_id",
            "created_at",
        ]
        read_only_fields = fields


class SnapshotSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    files = serializers.SerializerMethodField()

    class Meta:
        model = ExportSnapshot
        fields = [
            "id",
            "project",
            "format",
            "filters",
            "split_seed",
            "test_ratio",
            "counts",
            "files",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_files(self, snapshot: ExportSnapshot) -> list[dict]:
        """Each file with its download URL (paths on the server are not shown)."""
        request = self.context.get("request")
        out = []
        for item in snapshot.files or []:
            url = f"/api/snapshots/{snapshot.pk}/files/{item.get('split', '')}/"
            out.append(
                {
                    "split": item.get("split", ""),
                    "rows": item.get("rows"),
                    "sha256": item.get("sha256"),
                    "download": request.build_absolute_uri(url) if request else url,
                }
            )
        return out


class JobSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "project",
            "status",
            "queue",
            "done",
            "total",
            "percent",
            "metrics",
            "result",
            "error",
            "log_tail",
            "cancel_requested",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    base_model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    job = JobSerializer(read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "snapshot",
            "base_model",
            "method",
            "config",
            "adapter_path",
            "job",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class RunMetricsSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    status = serializers.CharField(allow_null=True)
    loss = serializers.ListField(child=serializers.ListField(), help_text="[step, loss] pairs.")
    eval_loss = serializers.ListField(child=serializers.ListField())
    latest = serializers.DictField(help_text="The newest progress figures of the job.")
    summary = serializers.DictField(help_text="Final figures once the run has finished.")


class ComparisonSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    job = JobSerializer(read_only=True)
    contenders = serializers.SerializerMethodField()

    class Meta:
        model = Comparison
        fields = [
            "id",
            "project",
            "run",
            "snapshot",
            "contenders",
            "job",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_contenders(self, comparison: Comparison) -> list[str]:
        return [c.get("name", "") for c in comparison.contenders or []]


# --- input -----------------------------------------------------------------------------------


class RecordCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=READABLE_FORMATS, default="openai_chat", help_text="How `row` is written."
    )
    row = serializers.DictField(help_text="One row in that format, as in its JSONL files.")
    status = serializers.ChoiceField(choices=Record.Status.choices, default=Record.Status.NEW)


class RecordBulkCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=READABLE_FORMATS, default="openai_chat")
    rows = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_BULK_ROWS
    )
    skip_bad = serializers.BooleanField(
        default=False, help_text="Keep the good rows and report the bad ones (default: none)."
    )
    status = serializers.ChoiceField(choices=Record.Status.choices, default=Record.Status.NEW)
    source = serializers.CharField(default="api", max_length=255)


class ImportReportSerializer(serializers.Serializer):
    project = serializers.CharField()
    format = serializers.CharField()
    read = serializers.IntegerField()
    imported = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    flagged = serializers.IntegerField(help_text="Rows whose tool calls break the schemas.")
    skipped = serializers.ListField(child=serializers.DictField())
    errors = serializers.ListField(child=serializers.DictField())
    ok = serializers.BooleanField()


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="The version you read; 409 if it moved on."
    )


class UpdateSerializer(VersionSerializer):
    state = serializers.DictField(help_text="`editor.state` of the record, edited.")


class SubmitSerializer(VersionSerializer):
    state = serializers.DictField(
        required=False, help_text="Save this state first (optional; else submit as is)."
    )


class SendBackSerializer(VersionSerializer):
    comment = serializers.CharField(max_length=5000, help_text="What the annotator should fix.")


class BulkActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["assign", "tag", "split", "review"])
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=10_000,
    )
    assignee = serializers.CharField(
        required=False, help_text="assign: a username (default: round robin over annotators)."
    )
    tag = serializers.CharField(required=False, max_length=100, help_text="tag: the tag name.")
    split = serializers.ChoiceField(
        choices=Record.Split.choices, required=False, help_text="split: train, test or ''."
    )


class RecordFilterSerializer(serializers.Serializer):
    """The records list's filters: the same names and values as the UI's query string."""

    q = serializers.CharField(required=False, help_text="Search text in the content.")
    status = serializers.ChoiceField(choices=Record.Status.choices, required=False)
    assignee = serializers.CharField(required=False, help_text='A user id, or "none".')
    tool = serializers.CharField(required=False, help_text='A tool name, or "-" for text.')
    tag = serializers.CharField(required=False)
    split = serializers.ChoiceField(choices=["train", "test", "none"], required=False)
    problems = serializers.ChoiceField(choices=["yes", "no"], required=False)
    has_draft = serializers.ChoiceField(choices=["yes", "no"], required=False)
    corrected = serializers.ChoiceField(choices=["yes", "no"], required=False)

    def to_filter(self) -> RecordFilter:
        return RecordFilter.from_params(self.validated_data)


class SnapshotCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=WRITABLE_FORMATS, default="openai_chat")
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=Record.Status.choices),
        default=[Record.Status.ACCEPTED],
        help_text="Statuses of the records to export.",
    )
    filters = RecordFilterSerializer(required=False, help_text="The records list's filters.")
    test_ratio = serializers.FloatField(min_value=0, max_value=0.9, default=0.1)
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)
    tools = serializers.BooleanField(
        default=True,
        help_text="Write each row's tool schemas (its own, else the project's) in formats with "
        "a tools field; false leaves them all out (short-prompt style).",
    )
    datasets = serializers.BooleanField(
        default=False, help_text="Also save a Hugging Face DatasetDict (save_to_disk)."
    )


class RunCreateSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    base_model = serializers.CharField(help_text="A base model's name, e.g. smollm2-135m-instruct.")
    method = serializers.ChoiceField(choices=TrainingRun.Method.choices, default="sft")
    config = serializers.DictField(
        default=dict,
        help_text="Hyper-parameters (RunConfig); processes: N trains with N processes under "
        "torchrun (one per GPU, else N CPU processes).",
    )
    queue = serializers.CharField(default="default", help_text="default, cpu or gpu.")


class ComparisonCreateSerializer(serializers.Serializer):
    run = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    contenders = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="base, tuned or NAME=model:BASEMODEL[,run:ID][,prompt:long|short]; "
        "BASEMODEL may be an OpenAI-compatible HTTP model of the registry (answered over HTTP, "
        "no run:ID)",
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    max_new_tokens = serializers.IntegerField(default=256, min_value=1, max_value=4096)
    batch_size = serializers.IntegerField(
        default=16,
        min_value=1,
        max_value=64,
        help_text="Answers generated at once; latency is measured apart, one request at a time.",
    )
    probe = serializers.BooleanField(default=True)
    bfcl_probe = serializers.IntegerField(
        default=0,
        min_value=0,
        max_value=10_000,
        help_text="Also score base and tuned on this many cases of a BFCL category by BFCL's "
        "rules (0: off). Needs BFCL's data: pip install --no-deps -r requirements-nodeps.txt.",
    )
    bfcl_category = serializers.ChoiceField(choices=list(BFCL_CATEGORIES), default="simple")
    queue = serializers.CharField(default="default")


class DraftingCreateSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="A base model's name.")
    without_draft = serializers.BooleanField(
        default=True, help_text="Only records that have no draft yet."
    )
    filter = RecordFilterSerializer(required=False, help_text="Further narrow the records.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=50_000)
    max_new_tokens = serializers.IntegerField(default=192)
    temperature = serializers.FloatField(default=0.0)
    batch_size = serializers.IntegerField(default=16)
    queue = serializers.CharField(default="default")


# --- errors and pages (for the schema) -----------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, stale, ...")
    message = serializers.CharField(help_text="What went wrong.")
    where = serializers.CharField(help_text="Where: a field, a line of the input, ...")
    hint = serializers.CharField(help_text="How to fix it.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


@cache
def paged(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a cursor page of `serializer_class` items."""
    return type(
        f"Paged{serializer_class.__name__.removesuffix('Serializer')}",
        (serializers.Serializer,),
        {
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


# --- editor states (the shapes curation.answers reads) ---------------------------------------


class InstructionStateSerializer(serializers.Serializer):
    output = serializers.CharField(allow_blank=True, help_text="The answer text.")


class ToolCallStateSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=["tool", "text", "clarify"], help_text="Call a tool, answer, or ask back."
    )
    tool = serializers.CharField(allow_blank=True, default="", help_text="mode tool: its name.")
    arguments_json = serializers.CharField(
        allow_blank=True, default="{}", help_text="mode tool: the arguments as JSON text."
    )
    content = serializers.CharField(
        allow_blank=True, default="", help_text="mode text/clarify: the answer."
    )
    call_id = serializers.CharField(allow_blank=True, default="")
    arguments_as_text = serializers.BooleanField(
        default=True, help_text="Write arguments as a JSON string (OpenAI style)."
    )


class MessageStateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant", "tool"])
    content = serializers.CharField(allow_blank=True, default="")
    tool_calls_json = serializers.CharField(allow_blank=True, default="")
    rest = serializers.DictField(default=dict, help_text="Other keys of the message.")
    content_was_null = serializers.BooleanField(default=False)


class CandidateSerializer(serializers.Serializer):
    source = serializers.CharField(allow_blank=True, default="")
    mark = serializers.ChoiceField(choices=["chosen", "rejected", ""], default="")
    messages = serializers.ListField(child=serializers.DictField(), min_length=1)


class ConversationStateSerializer(serializers.Serializer):
    messages = serializers.ListField(child=MessageStateSerializer(), default=list)
    candidates = serializers.ListField(child=CandidateSerializer(), default=list)
    new_answer = serializers.CharField(allow_blank=True, default="")


STATE_SERIALIZERS = {
    answers.INSTRUCTION: InstructionStateSerializer,
    answers.TOOL_CALL: ToolCallStateSerializer,
    answers.CONVERSATION: ConversationStateSerializer,
}


def checked_state(record: Record, state: dict) -> dict:
    """`state` checked against the shape of the record's editor (ValidationError if not)."""
    serializer = STATE_SERIALIZERS[answers.editor_kind(record)](data=state)
    if not serializer.is_valid():
        raise serializers.ValidationError({"state": serializer.errors})
    return serializer.validated_data


# --- project setup (input) -----------------------------------------------------------------


class ProjectSettingsSerializer(serializers.Serializer):
    """The settings a project's engineers change (PATCH sends any of them)."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True)
    task_kind = serializers.ChoiceField(choices=Project.TaskKind.choices)
    language = serializers.CharField(allow_blank=True, max_length=16)
    system_prompt = serializers.CharField(allow_blank=True, trim_whitespace=False)
    prompt_template = serializers.CharField(trim_whitespace=False)
    annotation_overlap = serializers.IntegerField()
    claim_timeout_minutes = serializers.IntegerField(allow_null=True)


class ProjectCreateSerializer(ProjectSettingsSerializer):
    slug = serializers.CharField(max_length=80, help_text="Lower-case letters, digits, - and _.")
    tools = serializers.ListField(
        child=serializers.DictField(), required=False, help_text='OpenAI "tools" shape.'
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name == "slug"


class ToolsSerializer(serializers.Serializer):
    tools = serializers.ListField(child=serializers.DictField(), help_text='OpenAI "tools" shape.')


class MemberAddSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=254, help_text="A username or an e-mail address.")
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
