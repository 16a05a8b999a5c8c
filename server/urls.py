"""URL wiring: the only place in server/ (with asgi.py and celery.py) that names the apps."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from server import health

api_patterns = [
    path("", include("server.accounts.urls")),
    path("", include("catalog.urls")),
    path("", include("streams.media.urls")),  # WHIP/WHEP (docs/video.md)
    path("", include("streams.urls")),
    path("", include("coupons.urls")),
    path("", include("orders.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/", include(api_patterns)),
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
