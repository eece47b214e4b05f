from django.urls import path

from curation import setup_views

urlpatterns = [
    path("projects/new/", setup_views.project_new, name="project_new"),
    path("p/<slug:slug>/settings/", setup_views.project_settings, name="project_settings"),
    path("p/<slug:slug>/settings/render/", setup_views.project_render, name="project_render"),
    path("p/<slug:slug>/settings/tools/", setup_views.project_tools, name="project_tools"),
    path(
        "p/<slug:slug>/settings/tools/check/",
        setup_views.project_tools_check,
        name="project_tools_check",
    ),
    path("p/<slug:slug>/members/", setup_views.project_members, name="project_members"),
]
