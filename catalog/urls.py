from rest_framework.routers import SimpleRouter

from catalog import api

router = SimpleRouter()
router.register("farms", api.FarmViewSet, basename="farm")
router.register("products", api.ProductViewSet, basename="product")
urlpatterns = router.urls
