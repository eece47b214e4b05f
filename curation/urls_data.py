from django.urls import path

from curation import data_views

urlpatterns = [
    path("p/<slug:slug>/data/", data_views.data_home, name="data_home"),
    path("p/<slug:slug>/data/import/", data_views.import_page, name="data_import"),
    path(
        "p/<slug:slug>/data/import/<str:token>/",
        data_views.import_status,
        name="data_import_status",
    ),
    path(
        "p/<slug:slug>/data/import/<str:token>/confirm/",
        data_views.import_confirm,
        name="data_import_confirm",
    ),
    path("p/<slug:slug>/data/export/", data_views.export_page, name="data_export"),
    path(
        "p/<slug:slug>/data/snapshots/<int:pk>/<str:split>",
        data_views.snapshot_download,
        name="data_snapshot_file",
    ),
    path("p/<slug:slug>/data/duplicates/", data_views.duplicates_page, name="data_duplicates"),
]
