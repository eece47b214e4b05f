from django.urls import path

from curation import annotate_views as views

urlpatterns = [
    path("p/<slug:slug>/queue/", views.queue, name="annotate_queue"),
    path("p/<slug:slug>/next/", views.take_next, name="annotate_next"),
    path("p/<slug:slug>/review/", views.review_queue, name="review_queue"),
    path("p/<slug:slug>/records/", views.records, name="records"),
    path("p/<slug:slug>/records/bulk/", views.bulk, name="records_bulk"),
    path("p/<slug:slug>/dashboard/", views.progress, name="dashboard"),
    path("p/<slug:slug>/guidelines/", views.guidelines, name="guidelines"),
    path("r/<int:pk>/", views.edit, name="record_edit"),
    path("r/<int:pk>/autosave/", views.autosave, name="record_autosave"),
    path("r/<int:pk>/check/", views.check, name="record_check"),
    path("r/<int:pk>/save/", views.save, name="record_save"),
    path("r/<int:pk>/submit/", views.submit, name="record_submit"),
    path("r/<int:pk>/skip/", views.skip, name="record_skip"),
    path("r/<int:pk>/discard/", views.discard, name="record_discard"),
    path("r/<int:pk>/history/", views.history, name="record_history"),
    path("r/<int:pk>/review/", views.review, name="review_record"),
    path("r/<int:pk>/accept/", views.review_action, {"action": "accept"}, name="review_accept"),
    path(
        "r/<int:pk>/send-back/",
        views.review_action,
        {"action": "send_back"},
        name="review_send_back",
    ),
]
