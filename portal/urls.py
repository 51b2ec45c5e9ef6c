from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from dashboard import views as dashboard_views
from members import security_views
from members.views import SignInView
from notifications import views as notify_views

from . import views
from .env import env
from .metrics import metrics_view

handler400 = "portal.error_pages.bad_request"
handler403 = "portal.error_pages.permission_denied"
handler404 = "portal.error_pages.page_not_found"
handler500 = "portal.error_pages.server_error"

api_v1 = [
    path("", include("members.urls_api")),
    path("accounts/", include("accounts.urls_api")),
    path("family/", include("family.urls_api")),
    path("claims/", include("claims.urls_api")),
    path("payments/", include("payments.urls_api")),
]

urlpatterns = [
    # A member's home is their dashboard (staff get the plain home.html).
    path("", dashboard_views.home, name="home"),
    path("dashboard/", include("dashboard.urls")),
    path("verify/", dashboard_views.verify, name="verify"),
    path("verify/<str:code>", dashboard_views.verify, name="verify_code"),
    path("healthz", views.healthz, name="healthz"),
    path("display/", dashboard_views.display_mode, name="display_mode"),
    path("metrics", metrics_view, name="metrics"),
    path("family/", include("family.urls")),
    path("access-log/", include("audit.urls")),
    path("errands/", include("errands.urls")),
    path("", include("notifications.urls")),
    path("payments/", include("payments.urls")),
    path("staff/settlement/", include("claims.urls")),
    path(
        "accounts/login/",
        SignInView.as_view(),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/logout/everywhere/",
        security_views.sign_out_everywhere,
        name="sign_out_everywhere",
    ),
    path("accounts/two-factor/", include("members.security_urls")),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path("accounts/password/reset/", notify_views.password_reset, name="password_reset"),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        notify_views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", views.api_docs, name="api-docs"),
]

# The benchmarks' baseline (bench/bench_http.py): a bare view answering fixed
# JSON through the same middleware. Exists only with BENCH_ENDPOINTS=true in the
# environment, so production never exposes it.
if env.bool("BENCH_ENDPOINTS", default=False):

    def bench_bare(request):
        return JsonResponse({"status": "ok"})

    def bench_signed_in(request):
        # The floor of any member page: the session and the signed-in user
        # (one Redis read and one query), then the same fixed JSON.
        return JsonResponse({"status": "ok", "signed_in": request.user.is_authenticated})

    urlpatterns.append(path("bench/bare", bench_bare, name="bench_bare"))
    urlpatterns.append(path("bench/signed-in", bench_signed_in, name="bench_signed_in"))
