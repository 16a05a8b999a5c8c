"""The sandbox gateway's hosted page (see ``orders.payments.sandbox``)."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from orders import tasks
from orders.models import Payment
from orders.payments import sandbox


@require_http_methods(["GET", "POST"])
def sandbox_pay(request: HttpRequest, reference: str) -> HttpResponse:
    """A gateway page knows payments by reference, not our users: the reference (64 random
    bits) is what lets the person who holds it pay."""
    if not settings.PAYMENT_SANDBOX:
        raise Http404
    payment = get_object_or_404(Payment.objects.select_related("order"), reference=reference)
    if request.method == "POST":
        outcome = request.POST.get("outcome", "")
        late = outcome == "late"
        if outcome not in sandbox.OUTCOMES and not late:
            return render(request, "orders/sandbox_pay.html", {"payment": payment}, status=400)
        notify = {
            "webhook_url": request.build_absolute_uri(
                reverse("payment-webhook", args=[payment.provider])
            ),
            "provider": payment.provider,
            "reference": payment.reference,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "outcome": "pay" if late else outcome,
        }
        if late:
            countdown = sandbox.late_countdown_s(
                due_at=payment.order.payment_due_at, now=timezone.now()
            )
            tasks.sandbox_notify_later.apply_async(kwargs=notify, countdown=countdown)
        else:
            sandbox.sandbox_notify(**notify)
        return redirect(f"{request.path}?sent={'late' if late else outcome}")
    payment.refresh_from_db()
    return render(
        request,
        "orders/sandbox_pay.html",
        {"payment": payment, "order": payment.order, "sent": request.GET.get("sent", "")},
    )
