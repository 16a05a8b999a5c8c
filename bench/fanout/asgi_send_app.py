"""Our app under daphne, with broadcasts forced through the ASGI ``send`` chain.

``LiveConsumer`` writes broadcasts straight to daphne's protocol when it finds it behind
``send``; this wrapper hides it, so every broadcast takes the generic path (a task and the
middleware's ``send`` per socket), the one the same app takes under uvicorn. The
``daphne-asgi`` variant against ``uvicorn`` is therefore the like-for-like price of daphne.
"""

from typing import Any

from server.asgi import application as _app


async def application(scope: dict[str, Any], receive: Any, send: Any) -> Any:
    async def plain_send(message: dict[str, Any]) -> None:
        await send(message)

    return await _app(scope, receive, plain_send)
