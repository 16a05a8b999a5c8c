"""``/ws/me/``: who the server thinks this socket is; lets apps check their credential."""

from datetime import UTC, datetime

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class WhoAmIConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        data = (
            {"id": user.pk, "username": user.username, "roles": user.roles}
            if user is not None and user.is_authenticated
            else None
        )
        await self.send_json(
            {"type": "me", "ts": datetime.now(UTC).isoformat(), "data": {"user": data}}
        )
        await self.close()
