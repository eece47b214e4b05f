from django.urls import path

from training import draft_views

urlpatterns = [
    path("p/<slug:slug>/drafting/", draft_views.drafting_page, name="drafting"),
    path("p/<slug:slug>/drafting/<int:pk>/", draft_views.draft_job_page, name="draft_job"),
    path(
        "p/<slug:slug>/drafting/<int:pk>/cancel/",
        draft_views.cancel_draft_job,
        name="cancel_draft_job",
    ),
]
