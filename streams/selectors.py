"""Session reads."""

from django.db.models import Case, IntegerField, QuerySet, Value, When

from streams.models import LiveSession, SessionStatus


def session_list() -> QuerySet[LiveSession]:
    """Live first, then the soonest scheduled, then the most recently ended."""
    rank = Case(
        When(status=SessionStatus.LIVE, then=Value(0)),
        When(status=SessionStatus.SCHEDULED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        LiveSession.objects.select_related("farm", "host")
        .annotate(rank=rank)
        .order_by("rank", "scheduled_at", "-ended_at", "id")
    )
