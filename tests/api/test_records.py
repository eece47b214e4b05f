"""The records API: the UI's role checks, filters, imports, version checks and review."""

from __future__ import annotations

import pytest

from curation.models import Record, WorkInProgress

pytestmark = pytest.mark.django_db


def test_anonymous_gets_401_with_a_hint_not_a_login_redirect(client, project):
    response = client.get(f"/api/projects/{project.slug}/")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert "Token" in error["hint"]
    assert response["WWW-Authenticate"] == "Token"


def test_a_revoked_token_gets_401(api_for, people, project):
    from core.models import ApiToken
    from core.tokens import revoke_token

    client = api_for("engineer")
    for token in ApiToken.objects.filter(user=people["engineer"]):
        revoke_token(token, people["engineer"])
    assert client.get(f"/api/projects/{project.slug}/").status_code == 401


def test_an_outsider_gets_404_and_sees_no_project(api_for, project):
    client = api_for("outsider")
    assert client.get(f"/api/projects/{project.slug}/").status_code == 404
    assert client.get("/api/projects/").json()["results"] == []


def test_the_project_list_names_your_role(api_for, project, records):
    body = api_for("reviewer").get("/api/projects/").json()
    assert [(p["slug"], p["role"], p["record_count"]) for p in body["results"]] == [
        (project.slug, "reviewer", len(records))
    ]


def test_an_annotator_may_not_list_records_like_on_the_records_page(api_for, project, records):
    response = api_for("annotator").get(f"/api/projects/{project.slug}/records/")
    assert response.status_code == 403
    assert set(response.json()["error"]) == {"code", "message", "where", "hint"}


def test_the_list_filters_like_the_ui_and_pages_with_a_cursor(api_for, project, records):
    Record.objects.filter(pk__in=[r.pk for r in records[:5]]).update(status="accepted")
    client = api_for("reviewer")
    url = f"/api/projects/{project.slug}/records/?status=accepted&page_size=2"
    seen = []
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted((r.pk for r in records[:5]), reverse=True)


def test_the_list_searches_chinese_text(api_for, project, records):
    word = records[3].instruction[:4]
    body = api_for("reviewer").get(f"/api/projects/{project.slug}/records/", {"q": word}).json()
    assert records[3].pk in [r["id"] for r in body["results"]]


def test_a_bad_filter_value_says_which_parameter(api_for, project):
    response = api_for("reviewer").get(f"/api/projects/{project.slug}/records/?status=nope")
    assert response.status_code == 400
    assert response.json()["error"]["where"] == "status"


def test_creating_a_record_twice_adds_it_once(api_for, project, people):
    client = api_for("engineer")
    body = {"format": "alpaca", "row": {"instruction": "翻译", "input": "你好", "output": "Hello"}}
    first = client.post(f"/api/projects/{project.slug}/records/", body, format="json")
    again = client.post(f"/api/projects/{project.slug}/records/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["editor"] == {"kind": "instruction", "state": {"output": "Hello"}}
    assert project.records.count() == 1


def test_a_reviewer_may_not_create_records(api_for, project):
    body = {"format": "alpaca", "row": {"instruction": "a", "output": "b"}}
    response = api_for("reviewer").post(
        f"/api/projects/{project.slug}/records/", body, format="json"
    )
    assert response.status_code == 403


def test_a_bad_row_is_named_with_its_line_and_nothing_is_written(api_for, project, alpaca_rows):
    rows = [*alpaca_rows[:3], {"instruction": "没有输出"}, *alpaca_rows[3:6]]
    response = api_for("engineer").post(
        f"/api/projects/{project.slug}/records/bulk/",
        {"format": "alpaca", "rows": rows},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "Nothing was imported" in error["message"]
    assert [e["line"] for e in error["report"]["errors"]] == [4]
    assert project.records.count() == 0


def test_skip_bad_keeps_the_good_rows_and_reports_the_rest(api_for, project, alpaca_rows):
    rows = [*alpaca_rows[:3], {"instruction": "没有输出"}, *alpaca_rows[3:6]]
    response = api_for("engineer").post(
        f"/api/projects/{project.slug}/records/bulk/",
        {"format": "alpaca", "rows": rows, "skip_bad": True},
        format="json",
    )
    assert response.status_code == 201
    report = response.json()
    assert (report["imported"], len(report["skipped"])) == (6, 1)
    assert project.records.count() == 6


def _take(client, project) -> dict:
    response = client.post(f"/api/projects/{project.slug}/next/")
    assert response.status_code == 200
    return response.json()


def test_an_annotator_takes_saves_and_submits_a_record(api_for, project, records):
    client = api_for("annotator")
    record = _take(client, project)
    assert (record["status"], record["assignee"]) == ("in_progress", "anna")
    saved = client.put(
        f"/api/records/{record['id']}/",
        {"version": record["version"], "state": {"output": "改过的答案"}},
        format="json",
    )
    assert saved.status_code == 200
    assert (saved.json()["output"], saved.json()["version"]) == (
        "改过的答案",
        record["version"] + 1,
    )
    submitted = client.post(
        f"/api/records/{record['id']}/submit/", {"version": saved.json()["version"]}, format="json"
    )
    assert submitted.json()["status"] == "submitted"


def test_a_stale_save_gets_409_with_both_versions_and_keeps_mine(api_for, project, records, people):
    client = api_for("annotator")
    record = _take(client, project)
    reviewer = api_for("reviewer")
    theirs = reviewer.put(
        f"/api/records/{record['id']}/",
        {"version": record["version"], "state": {"output": "审核员的版本"}},
        format="json",
    )
    assert theirs.status_code == 200
    response = client.put(
        f"/api/records/{record['id']}/",
        {"version": record["version"], "state": {"output": "我的版本"}},
        format="json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "stale"
    assert error["mine"] == {"version": record["version"], "answer": "我的版本"}
    assert (error["theirs"]["version"], error["theirs"]["by"]) == (record["version"] + 1, "rita")
    assert error["theirs"]["answer"] == "审核员的版本"
    kept = WorkInProgress.objects.get(record_id=record["id"], user=people["annotator"])
    assert kept.data["state"] == {"output": "我的版本"}


def test_a_state_of_the_wrong_shape_is_refused_with_the_field(api_for, project, records):
    client = api_for("annotator")
    record = _take(client, project)
    response = client.put(
        f"/api/records/{record['id']}/",
        {"version": record["version"], "state": {"answer": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["where"] == "state.output"


def test_an_annotator_may_not_save_a_record_someone_else_holds(api_for, project, records):
    record = _take(api_for("annotator"), project)
    other = records[-1] if records[-1].pk != record["id"] else records[0]
    response = api_for("annotator").put(
        f"/api/records/{other.pk}/",
        {"version": other.version, "state": {"output": "x"}},
        format="json",
    )
    assert response.status_code == 403


def test_a_reviewer_accepts_or_sends_back_with_a_comment(api_for, project, records):
    annotator, reviewer = api_for("annotator"), api_for("reviewer")
    record = _take(annotator, project)
    done = annotator.post(
        f"/api/records/{record['id']}/submit/", {"version": record["version"]}, format="json"
    ).json()
    assert (
        api_for("annotator")
        .post(f"/api/records/{record['id']}/accept/", {"version": done["version"]}, format="json")
        .status_code
        == 403
    )
    empty = reviewer.post(
        f"/api/records/{record['id']}/send-back/",
        {"version": done["version"], "comment": " "},
        format="json",
    )
    assert empty.status_code == 400
    back = reviewer.post(
        f"/api/records/{record['id']}/send-back/",
        {"version": done["version"], "comment": "再检查一下"},
        format="json",
    ).json()
    assert (back["status"], back["assignee"], back["review_comment"]) == (
        "returned",
        "anna",
        "再检查一下",
    )


def test_accepting_with_an_old_version_is_a_conflict(api_for, project, records):
    annotator = api_for("annotator")
    record = _take(annotator, project)
    annotator.post(
        f"/api/records/{record['id']}/submit/", {"version": record["version"]}, format="json"
    )
    response = api_for("reviewer").post(
        f"/api/records/{record['id']}/accept/", {"version": record["version"]}, format="json"
    )
    assert response.status_code == 409


def test_the_next_record_is_204_when_the_queue_is_empty(api_for, project):
    assert api_for("annotator").post(f"/api/projects/{project.slug}/next/").status_code == 204


def test_bulk_actions_go_through_the_workflow_roles(api_for, project, records):
    ids = [r.pk for r in records[:3]]
    url = f"/api/projects/{project.slug}/records/actions/"
    tagged = api_for("reviewer").post(
        url, {"action": "tag", "ids": ids, "tag": "难"}, format="json"
    )
    assert tagged.json() == {"tagged": 3}
    split = api_for("reviewer").post(
        url, {"action": "split", "ids": ids, "split": "test"}, format="json"
    )
    assert split.status_code == 403
    moved = api_for("engineer").post(
        url, {"action": "split", "ids": ids, "split": "test"}, format="json"
    )
    assert moved.json() == {"moved": 3, "locked": 0}


def test_a_body_that_is_not_json_is_a_parse_error(api_for, project):
    response = api_for("engineer").post(
        f"/api/projects/{project.slug}/records/bulk/", "{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
