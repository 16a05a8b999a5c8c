"""Session writes."""

from datetime import datetime

from catalog.errors import NotFarmOwner
from catalog.models import Farm
from server.accounts.models import User
from server.errors import Invalid
from streams.models import LiveSession


def session_create(
    *,
    host: User,
    farm: Farm,
    title: str,
    now: datetime,
    description: str = "",
    language: str = "th",
    scheduled_at: datetime | None = None,
) -> LiveSession:
    """Schedule a session on the host's own farm. Raises ``NotFarmOwner``, ``Invalid``."""
    if farm.owner_id != host.pk:
        raise NotFarmOwner("Sessions are hosted by the farm's own host.")
    if scheduled_at is not None and scheduled_at < now:
        raise Invalid(
            "A session cannot be scheduled in the past.",
            fields={"scheduled_at": ["Must be in the future."]},
        )
    return LiveSession.objects.create(
        host=host,
        farm=farm,
        title=title,
        description=description,
        language=language,
        scheduled_at=scheduled_at,
    )
