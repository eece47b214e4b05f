"""The import and export pages: preview before writing, a report after, clear errors with
nothing written, progress for large files, snapshot downloads, and who may do what."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from curation.models import ExportSnapshot, Record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.UPLOAD_DIR = tmp_path / "uploads"
    settings.EXPORT_DIR = tmp_path / "exports"
    return tmp_path


def upload(client, project, name: str, data: bytes, **fields):
    url = reverse("curation:data_import", args=[project.slug])
    return client.post(url, {"file": SimpleUploadedFile(name, data), **fields})


def token_of(response) -> str:
    return response.context["token"]


def test_upload_shows_a_preview_and_writes_nothing_until_confirmed(
    client_for, project, shared_data
):
    client = client_for("engineer")
    data = (shared_data / "alpaca_zh_demo.json").read_bytes()
    response = upload(client, project, "alpaca_zh_demo.json", data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "alpaca" in page and "识别并解释给定列表中的两个科学理论" in page
    assert len(response.context["preview"].rows) == 20
    assert not Record.objects.exists()
    confirm = reverse("curation:data_import_confirm", args=[project.slug, token_of(response)])
    fragment = client.post(confirm, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="import-status"')
    assert "992" in fragment
    report = client.get(
        reverse("curation:data_import_status", args=[project.slug, token_of(response)])
    )
    assert report.context["state"]["report"]["imported"] == 992
    assert report.context["state"]["report"]["duplicates"] == 8
    assert project.records.count() == 992
    assert client.post(confirm).context["state"]["state"] == "done"  # a second click is a no-op
    assert project.records.count() == 992


@pytest.mark.parametrize("shape", ["openai", "bare"])
def test_the_preview_reads_tools_of_either_shape_and_shows_calls_and_results(
    client_for, project, shared_data, shape
):
    """LLaMA-Factory's glaive file carries OpenAI-shaped tools once read: the preview was an
    HTTP 500. Bare tools ({"name", "parameters"}) read the same."""
    client = client_for("engineer")
    if shape == "bare":  # OpenAI chat JSONL whose tools are bare function schemas
        from curation.formats import FORMATS

        with open(shared_data / "glaive_toolcall_zh_demo.json", encoding="utf-8") as f:
            rows = list(FORMATS["sharegpt"].read(f))[:3]
        lines = [
            {"messages": r.messages, "tools": [t["function"] for t in r.tools or []]} for r in rows
        ]
        name = "bare.jsonl"
        data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    else:
        name = "glaive_toolcall_zh_demo.json"
        data = (shared_data / name).read_bytes()
    response = upload(client, project, name, data)
    page = response.content.decode()
    assert response.status_code == 200, page[:500]
    assert "<code>generate_invoice</code>" in page  # the row's tools, by name
    assert '<code class="call">generate_invoice(' in page  # a mid-conversation call
    assert "result of generate_invoice" in page  # its result, named for the call
    assert page.index('id="import-status"') < page.index('id="preview"')  # result block first
    assert not Record.objects.exists()


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("bad.jsonl", b'{"instruction": "\xff"}\n', "not UTF-8"),
        ("cut.json", b'[{"instruction": "a", "output": "b"}, {"instr', "truncated JSON"),
        ("comma.json", b'[{"instruction": "a", "output": "b"},]', "trailing comma"),
        ("empty.json", b"", "empty"),
        ("rows.csv", b"question,answer\nq,a\n", "is missing"),
    ],
)
def test_bad_files_get_a_clear_message_and_write_nothing(client_for, project, name, data, message):
    client = client_for("engineer")
    response = upload(client, project, name, data)
    assert message in response.content.decode()
    if response.status_code == 200:  # readable up to the damage: the preview lists the error
        assert response.context["preview"].errors
        token = token_of(response)
        confirm = reverse("curation:data_import_confirm", args=[project.slug, token])
        page = client.post(confirm).content.decode()
        assert "Nothing was imported" in page and message in page
    else:
        assert response.status_code == 400
    assert not Record.objects.exists()


def test_a_file_over_the_limit_is_refused(client_for, project, settings):
    settings.TUNEDESK_MAX_UPLOAD_MB = 1
    data = b'{"instruction": "a", "output": "b"}\n' * 40000
    response = upload(client_for("engineer"), project, "big.jsonl", data)
    assert response.status_code == 413  # from its Content-Length, unread
    assert "over the 1 MB upload limit" in response.content.decode()
    assert not Record.objects.exists()


def test_a_failing_import_reports_its_errors_and_writes_nothing(client_for, project):
    client = client_for("engineer")
    data = b'{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n'
    response = upload(client, project, "rows.jsonl", data)
    confirm = reverse("curation:data_import_confirm", args=[project.slug, token_of(response)])
    page = client.post(confirm).content.decode()
    assert "Nothing was imported" in page and "line 2" in page
    assert not Record.objects.exists()


def test_skip_bad_lists_every_skipped_row(client_for, project):
    client = client_for("engineer")
    data = b'{"instruction": "a", "output": "b"}\n{"instruction": "c"}\nnope\n'
    response = upload(client, project, "rows.jsonl", data, skip_bad="on", status="accepted")
    confirm = reverse("curation:data_import_confirm", args=[project.slug, token_of(response)])
    page = client.post(confirm).content.decode()
    assert "line 2" in page and "line 3" in page
    assert list(project.records.values_list("status", flat=True)) == ["accepted"]


def test_another_user_cannot_see_an_upload(client_for, project, people, client):
    response = upload(
        client_for("engineer"), project, "r.jsonl", b'{"instruction": "a", "output": "b"}\n'
    )
    people["reviewer"].memberships.update(role="engineer")
    client.force_login(people["reviewer"])
    url = reverse("curation:data_import_status", args=[project.slug, token_of(response)])
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("who,code", [("annotator", 403), ("reviewer", 403), ("outsider", 404)])
def test_only_engineers_import(client_for, project, who, code):
    assert (
        client_for(who).get(reverse("curation:data_import", args=[project.slug])).status_code
        == code
    )


def make_records(project, n=20):
    from curation.formats.base import Row
    from curation.rows import row_to_record

    Record.objects.bulk_create(
        [
            row_to_record(
                Row(instruction=f"q{i}", input="", output="a"), project, status="accepted"
            )
            for i in range(n)
        ]
    )


def test_an_engineer_exports_and_sees_counts_checksums_and_links(client_for, project):
    make_records(project)
    client = client_for("engineer")
    url = reverse("curation:data_export", args=[project.slug])
    response = client.post(
        url, {"format": "alpaca", "status": ["accepted"], "test_ratio": "0.25", "seed": "2"}
    )
    snapshot = ExportSnapshot.objects.get()
    page = response.content.decode()
    assert snapshot.counts == {"train": 15, "test": 5, "all": 20}
    assert snapshot.files[0]["sha256"][:16] in page
    assert reverse("curation:data_snapshot_file", args=[project.slug, snapshot.pk, "train"]) in page


def test_the_export_page_offers_tool_schemas_and_a_hugging_face_dataset(client_for, project):
    make_records(project, 4)
    client = client_for("engineer")
    url = reverse("curation:data_export", args=[project.slug])
    page = client.get(url).content.decode()
    assert 'name="tools" value="1" checked' in page and 'name="datasets" value="1"' in page
    response = client.post(
        url,
        {"format": "openai_chat", "status": ["accepted"], "tools": "1", "datasets": "1"},
    )
    snapshot = ExportSnapshot.objects.get()
    assert response.status_code == 200
    assert snapshot.manifest["hf_dataset"] == "hf_dataset"
    assert snapshot.manifest["tools"]["included"] is True
    assert "Hugging Face dataset in hf_dataset/" in response.content.decode()


def test_an_export_error_is_shown_and_nothing_is_written(client_for, project):
    client = client_for("engineer")
    url = reverse("curation:data_export", args=[project.slug])
    response = client.post(
        url, {"format": "alpaca", "status": ["accepted"]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "no records match" in response.content.decode()
    assert not ExportSnapshot.objects.exists()


def test_a_reviewer_downloads_snapshots_but_cannot_make_one(client_for, project):
    from curation.exports import create_snapshot

    make_records(project)
    snapshot = create_snapshot(project, None, format_name="alpaca", test_ratio=0)
    client = client_for("reviewer")
    url = reverse("curation:data_snapshot_file", args=[project.slug, snapshot.pk, "all"])
    response = client.get(url)
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert len(rows) == 20
    manifest = client.get(
        reverse("curation:data_snapshot_file", args=[project.slug, snapshot.pk, "manifest.json"])
    )
    assert manifest.status_code == 200
    from curation.models import AuditEvent

    taken = AuditEvent.objects.filter(action="download").order_by("id")
    assert [(e.actor.username, e.data["file"], e.data["via"]) for e in taken] == [
        ("rita", "all.jsonl", "web"),
        ("rita", "manifest.json", "web"),
    ]
    export_url = reverse("curation:data_export", args=[project.slug])
    assert client.get(export_url).status_code == 200
    assert client.post(export_url, {"format": "alpaca"}).status_code == 403
    assert client_for("annotator").get(url).status_code == 403


def test_the_duplicates_page_lists_near_duplicates(client_for, project):
    from curation.formats.base import Row
    from curation.rows import row_to_record

    text = "请帮我查询一下今天上海的天气情况,谢谢"
    Record.objects.bulk_create(
        [
            row_to_record(
                Row(instruction=t, input="", output="今天上海晴,气温二十度,适合散步。"), project
            )
            for t in (text, text + "!")
        ]
    )
    page = client_for("engineer").get(reverse("curation:data_duplicates", args=[project.slug]))
    assert "上海" in page.content.decode() and len(page.context["groups"]) == 1


def test_the_project_nav_links_to_import_and_export(client_for, project):
    page = client_for("engineer").get(reverse("curation:project_home", args=[project.slug]))
    assert reverse("curation:data_export", args=[project.slug]) in page.content.decode()
