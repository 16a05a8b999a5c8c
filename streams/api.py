"""Session endpoints (list, detail, create); lifecycle and showcase come with the live channel."""

from django.utils import timezone
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import Farm
from server.api import validated
from streams import selectors, services
from streams.models import LiveSession


class SessionSerializer(serializers.ModelSerializer):
    farm = serializers.PrimaryKeyRelatedField(queryset=Farm.objects.all())
    farm_name = serializers.CharField(source="farm.name", read_only=True)
    province = serializers.CharField(source="farm.province", read_only=True)
    host = serializers.PrimaryKeyRelatedField(read_only=True)
    host_name = serializers.CharField(source="host.__str__", read_only=True)

    class Meta:
        model = LiveSession
        fields = (
            "id",
            "farm",
            "farm_name",
            "province",
            "host",
            "host_name",
            "title",
            "description",
            "language",
            "status",
            "scheduled_at",
            "started_at",
            "ended_at",
        )
        read_only_fields = ("status", "started_at", "ended_at")


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SessionSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return selectors.session_list()

    def create(self, request: Request) -> Response:
        fields = validated(SessionSerializer, request)
        session = services.session_create(host=request.user, now=timezone.now(), **fields)
        return Response(SessionSerializer(session).data, status=201)
