from django.urls import path
from rest_framework.routers import SimpleRouter

from coupons import api

router = SimpleRouter()
router.register("campaigns", api.CampaignViewSet, basename="campaign")

urlpatterns = [
    *router.urls,
    path("sessions/<int:session_id>/drops/", api.SessionDropsView.as_view(), name="drop-open"),
    path(
        "sessions/<int:session_id>/campaigns/",
        api.SessionCampaignsView.as_view(),
        name="session-campaigns",
    ),
    path("drops/<int:drop_id>/cancel/", api.DropCancelView.as_view(), name="drop-cancel"),
    path("drops/<int:drop_id>/claim/", api.DropClaimView.as_view(), name="drop-claim"),
    path("me/coupons/", api.MyCouponsView.as_view(), name="my-coupons"),
]
