from rest_framework.routers import SimpleRouter

from streams import api

router = SimpleRouter()
router.register("sessions", api.SessionViewSet, basename="session")
urlpatterns = router.urls
