from django.urls import include, path

from curation import views

app_name = "curation"

# One URL module per area, so each area's views and routes live together.
urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("p/<slug:slug>/", views.project_home, name="project_home"),
    path("", include("curation.urls_annotate")),
    path("", include("curation.urls_data")),
    path("", include("curation.urls_setup")),
]
