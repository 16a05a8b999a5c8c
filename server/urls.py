"""URL wiring: the only place in server/ (with asgi.py and celery.py) that names the apps."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from server import health
from server.accounts.views import throttled_login

api_patterns = [
    path("", include("server.accounts.urls")),
    path("", include("catalog.urls")),
    path("", include("streams.media.urls")),  # WHIP/WHEP (docs/video.md)
    path("", include("streams.urls")),
    path("", include("coupons.urls")),
    path("", include("orders.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="frontend/swagger_ui.html"
        ),
        name="api-docs",
    ),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/", include(api_patterns)),
    path("admin/login/", throttled_login(admin.site.login)),  # before the admin's own
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("orders.page_urls")),
    path("", include("frontend.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "server.errors.handler400"
handler403 = "server.errors.handler403"
handler404 = "server.errors.handler404"
handler500 = "server.errors.handler500"
