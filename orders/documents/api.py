"""Labels and the export over HTTP (docs/api.md, "Labels and export")."""

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.api import _param
from orders.documents import builds, export, labels
from server.errors import Forbidden, Invalid
from server.periods import DAY_OR_MONTH, query_instant

PDF = OpenApiResponse(OpenApiTypes.BINARY, description="The PDF.")
PROGRESS = {
    "type": "object",
    "required": ["status", "done", "total", "retry_after_s"],
    "properties": {
        "status": {"type": "string", "enum": ["queued", "building"]},
        "done": {"type": "integer"},
        "total": {"type": "integer"},
        "retry_after_s": {"type": "integer"},
    },
}


class _FileView(APIView):
    permission_classes = [IsAuthenticated]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        # A file whatever the client's Accept says (a browser's, a printer tool's); a refusal
        # or a progress report is JSON, never 406.
        return super().perform_content_negotiation(request, force=True)


def _private(response: HttpResponse) -> HttpResponse:
    """Addresses and phone numbers: no shared cache keeps them."""
    response["Cache-Control"] = "private, no-store"
    return response


class OrderLabelView(_FileView):
    @extend_schema(
        operation_id="orders_label_pdf",
        responses={(200, "application/pdf"): PDF},
        summary="The order's packing slip and shipping label (the farm's seller).",
    )
    def get(self, request: Request, pk: str) -> HttpResponse:
        order = labels.order_for_label(order_id=int(pk), user=request.user)
        response = HttpResponse(labels.labels_pdf([order]), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="label-{order.pk}.pdf"'
        return _private(response)


class SessionLabelsView(_FileView):
    @extend_schema(
        operation_id="sessions_labels_pdf",
        responses={
            (200, "application/pdf"): PDF,
            (202, "application/json"): OpenApiResponse(
                PROGRESS, description="A worker is building it; ask again after Retry-After."
            ),
        },
        summary="Labels for all the session's orders to pack, in packing order (its host).",
    )
    def get(self, request: Request, pk: str) -> HttpResponse:
        session = builds.session_for_labels(session_id=int(pk), user=request.user)
        got = builds.session_labels(session_id=session.pk, language=translation.get_language())
        if isinstance(got, builds.Pending):
            body = {
                "status": got.status, "done": got.done, "total": got.total,
                "retry_after_s": got.retry_after_s,
            }  # fmt: skip
            return Response(body, status=202, headers={"Retry-After": str(got.retry_after_s)})
        response = FileResponse(got.file, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="labels-session-{session.pk}.pdf"'
        return _private(response)


async def _pieces(chunks: Iterator[str]) -> AsyncIterator[str]:
    """Served by daphne, a streaming response must be async: Django reads a plain iterator
    whole before sending it. Each piece's query runs in the request's sync thread."""
    step = sync_to_async(next, thread_sensitive=True)
    while (chunk := await step(chunks, None)) is not None:
        yield chunk


class OrderExportView(_FileView):
    @extend_schema(
        operation_id="orders_export_csv",
        parameters=[
            OpenApiParameter("session", int, description="Only this session's orders."),
            OpenApiParameter("from", str, description=f"From this day ({DAY_OR_MONTH}) or time."),
            OpenApiParameter("to", str, description="To this day or month, inclusive, or time."),
        ],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")},
        summary="The seller's farms' orders as CSV, one row per order line.",
    )
    def get(self, request: Request) -> HttpResponse:
        if not request.user.is_host:
            raise Forbidden("Orders are exported by sellers.")
        session = _param(request, "session", number=True)
        since = query_instant(request.query_params.get("from"), "from")
        until = query_instant(request.query_params.get("to"), "to", end=True)
        if since is not None and until is not None and since >= until:
            raise Invalid("from must come before to.", fields={"to": ["Before from."]})
        orders = export.orders_for_export(
            user=request.user, session_id=session, since=since, until=until
        )
        response = StreamingHttpResponse(
            _pieces(export.csv_chunks(orders)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="orders.csv"'
        return _private(response)
