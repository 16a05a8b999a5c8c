"""WHIP/WHEP routes, with or without a trailing slash (OBS and RFC 9725 clients use none)."""

from django.urls import re_path

from streams.media import api

urlpatterns = [
    re_path(r"^sessions/(?P<session_id>[0-9]{1,12})/whip/?$", api.whip, name="whip"),
    re_path(
        r"^sessions/(?P<session_id>[0-9]{1,12})/whip/(?P<resource>[A-Za-z0-9_-]{1,64})/?$",
        api.whip_resource,
        name="whip-resource",
    ),
    re_path(r"^sessions/(?P<session_id>[0-9]{1,12})/whep/?$", api.whep, name="whep"),
    re_path(
        r"^sessions/(?P<session_id>[0-9]{1,12})/whep/(?P<resource>[A-Za-z0-9_-]{1,64})/?$",
        api.whep_resource,
        name="whep-resource",
    ),
]
