from django.urls import path, re_path

from api.views import exports, members, projects, records, training

app_name = "api"

urlpatterns = [
    path("projects/", projects.ProjectList.as_view(), name="projects"),
    path("projects/<slug:slug>/", projects.ProjectDetail.as_view(), name="project"),
    path("projects/<slug:slug>/members/", members.MemberList.as_view(), name="members"),
    path(
        "projects/<slug:slug>/members/<str:username>/",
        members.MemberDetail.as_view(),
        name="member",
    ),
    path("projects/<slug:slug>/tools/", members.ProjectTools.as_view(), name="tools"),
    path("projects/<slug:slug>/records/", records.RecordList.as_view(), name="records"),
    path(
        "projects/<slug:slug>/records/bulk/",
        records.RecordBulkCreate.as_view(),
        name="records_bulk",
    ),
    path(
        "projects/<slug:slug>/records/actions/",
        records.RecordBulkAction.as_view(),
        name="records_actions",
    ),
    path("projects/<slug:slug>/next/", records.NextRecord.as_view(), name="next_record"),
    path("records/<int:pk>/", records.RecordDetail.as_view(), name="record"),
    path("records/<int:pk>/submit/", records.RecordSubmit.as_view(), name="record_submit"),
    path("records/<int:pk>/accept/", records.RecordAccept.as_view(), name="record_accept"),
    path("records/<int:pk>/send-back/", records.RecordSendBack.as_view(), name="record_send_back"),
    path("records/<int:pk>/drafts/", records.RecordDrafts.as_view(), name="record_drafts"),
    path("projects/<slug:slug>/drafting/", training.DraftingCreate.as_view(), name="drafting"),
    path("projects/<slug:slug>/snapshots/", exports.SnapshotList.as_view(), name="snapshots"),
    path("snapshots/<int:pk>/", exports.SnapshotDetail.as_view(), name="snapshot"),
    path(
        "snapshots/<int:pk>/files/<slug:split>/",
        exports.SnapshotFile.as_view(),
        name="snapshot_file",
    ),
    path("projects/<slug:slug>/runs/", training.RunList.as_view(), name="runs"),
    path("runs/<int:pk>/", training.RunDetail.as_view(), name="run"),
    path("runs/<int:pk>/cancel/", training.RunCancel.as_view(), name="run_cancel"),
    path("runs/<int:pk>/metrics/", training.RunMetrics.as_view(), name="run_metrics"),
    path(
        "projects/<slug:slug>/comparisons/", training.ComparisonList.as_view(), name="comparisons"
    ),
    path("comparisons/<int:pk>/", training.ComparisonDetail.as_view(), name="comparison"),
    path(
        "comparisons/<int:pk>/report/",
        training.ComparisonReport.as_view(),
        name="comparison_report",
    ),
    path("jobs/<int:pk>/", training.JobDetail.as_view(), name="job"),
    path("jobs/<int:pk>/cancel/", training.JobCancel.as_view(), name="job_cancel"),
    # Last: any other path under /api/ answers a JSON 404, not the site's HTML page.
    re_path(r"^[\s\S]*$", projects.NoSuchEndpoint.as_view(), name="not_found"),
]
