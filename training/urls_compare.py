from django.urls import path

from training import compare_views as views

urlpatterns = [
    path("p/<slug:slug>/compare/", views.comparison_list, name="comparisons"),
    path("p/<slug:slug>/compare/new", views.comparison_launch, name="comparison_launch"),
    path("p/<slug:slug>/compare/<int:pk>/", views.comparison_report, name="comparison"),
    path(
        "p/<slug:slug>/compare/<int:pk>/cancel", views.comparison_cancel, name="comparison_cancel"
    ),
    path(
        "p/<slug:slug>/compare/<int:pk>/failures",
        views.comparison_failures,
        name="comparison_failures",
    ),
    path(
        "p/<slug:slug>/compare/<int:pk>/export.<str:fmt>",
        views.comparison_export,
        name="comparison_export",
    ),
    path("p/<slug:slug>/compare/<int:pk>/judge/", views.comparison_judge, name="comparison_judge"),
]
