from server.errors import Forbidden


class NotFarmOwner(Forbidden):
    """Only a farm's own host (or staff) changes the farm and its products."""


class NotAHost(Forbidden):
    """Only users with the host role own farms."""
