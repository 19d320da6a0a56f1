from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views

urlpatterns = [
    path("api/", include("api.urls")),
    # Django's language switch, which also stores a signed-in user's choice.
    path("i18n/setlang/", account_views.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("files/", include("evidence.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("merchants.urls")),
    path("", include("refunds.urls")),
    path("", include("reporting.urls")),
]

# Pages in the site's design, JSON problem documents under /api/ (config/errors.py).
handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
