"""The public account endpoints (docs/api.md): register, token, me, ws-ticket."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from server.accounts import services
from server.accounts.models import Role, User, validate_username
from server.api import AuthRateThrottle, validated
from server.clientaddr import client_address


class RegisterIn(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[validate_username])
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class UserOut(serializers.ModelSerializer):
    roles = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = User
        fields = ("id", "username", "display_name", "roles", "date_joined")


class RegisterOut(UserOut):
    token = serializers.CharField(read_only=True)

    class Meta(UserOut.Meta):
        fields = (*UserOut.Meta.fields, "token")


class CredentialsIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


TokenOut = inline_serializer("TokenOut", {"token": serializers.CharField()})
TicketOut = inline_serializer(
    "WsTicketOut", {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()}
)


class RegisterView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=RegisterIn, responses={201: RegisterOut}, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = validated(RegisterIn, request)
        user = services.user_register(
            **data,
            address=client_address(request.META),
            language=getattr(request, "LANGUAGE_CODE", None),
        )
        user.token = services.token_get_or_create(user=user)
        return Response(RegisterOut(user).data, status=201)


class TokenView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=CredentialsIn, responses={200: TokenOut}, tags=["auth"])
    def post(self, request: Request) -> Response:
        user = services.user_authenticate(
            **validated(CredentialsIn, request), address=client_address(request.META)
        )
        return Response({"token": services.token_get_or_create(user=user)})


class WsTicketView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: TicketOut}, tags=["auth"])
    def post(self, request: Request) -> Response:
        ttl = settings.WS_TICKET_TTL_S
        ticket = services.ws_ticket_issue(user=request.user, ttl_s=ttl)
        return Response({"ticket": ticket, "expires_in": ttl}, status=201)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOut}, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(UserOut(request.user).data)
