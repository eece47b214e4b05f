from django.urls import include, path

from training import train_views

app_name = "training"

urlpatterns: list = [
    path("", include("training.urls_compare")),
    path("", include("training.urls_draft")),
    path("p/<slug:slug>/training/", train_views.training_page, name="runs"),
    path("p/<slug:slug>/training/preview/", train_views.preview_page, name="preview"),
    path("p/<slug:slug>/training/runs/<int:pk>/", train_views.run_page, name="run"),
    path("p/<slug:slug>/training/runs/<int:pk>/cancel/", train_views.cancel, name="cancel"),
]
