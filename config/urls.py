from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, login_required
from django.templatetags.static import static
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.views import health
from curation.token_views import api_tokens
from training import openai_views

urlpatterns = [
    path("healthz", health, name="health"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the API's pages).
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=static("favicon.svg"))),
        name="favicon",
    ),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    path("account/api-tokens/", api_tokens, name="api_tokens"),
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("password_change_done")),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # Signed in only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); the page sends a visitor to
    # the login page, the schema answers a script 401 like the rest of the API.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api_schema")),
        name="api_docs",
    ),
    path("api/", include("api.urls")),
    path("v1/models", openai_views.list_models, name="openai_models"),
    path("v1/chat/completions", openai_views.chat_completions, name="openai_chat"),
    path("", include("training.urls")),
    path("", include("curation.urls")),
]
