"""``POST /api/orders/`` under a rush: the gate is asked on the event loop, and only admitted
buyers take a thread and a database connection (docs/benchmarks.md, "Orders (stock gate)").

Under daphne every request to a sync view (DRF's included) enters a thread of its own, and
our sync middleware puts it there before the view: in a 2,000-buyer storm on two nodes each
node held about 1,000 threads waiting for 8 pooled connections, and most buyers had no
answer within 120 s (the pool's 10 s timeout answered the rest 500). Here, in front of
Django, a one-line order with ``Authorization: Token``:

1. is checked for shape by the view's own serializer (no database);
2. has its token (and whether its ``Idempotency-Key`` was seen) read in a batch with the
   other lookups of the loop turn, on two threads of its own (writes get the rest of
   ``DB_POOL_MAX``), so threads never queue for connections;
3. takes its units from the gate with ``Gate.aadmit`` (pipelined with every other call of
   this loop turn). Refused: the ``out_of_stock`` (or ``limit_reached``) answer is made by
   Django's own middleware on the loop, no thread, no further query. Admitted: the view's
   own ``orders.api.order_create`` (idempotency lease, ``order_place`` with the admission)
   runs on the same bounded executor, and its answer goes out the same way: no thread per
   request, no middleware hop.

Anything else (another verb, session auth, several lines, a seen key, a gate that is
missing or closed, a body the serializer refuses) goes to the view untouched, which answers
it exactly as before.
"""

import asyncio
import io
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import DatabaseError, connection
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer

from orders.models import IdempotencyRecord
from orders.services.stock import (
    Taken,
    offer_gate,
    product_gate,
    refusal_of,
    stock_gate_ensure,
)
from server import jsonlimits
from server.accounts.models import User
from server.errors import DomainError, input_error, service_error

log = logging.getLogger(__name__)

PATH = "/api/orders/"
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Table names come from the models, never from input. One row per (token, key) asked whose
# token exists: its user, whether active, and whether that user sent that key before.
_WHO = f"""
SELECT q.token, q.key, u.id, u.is_active, EXISTS (
    SELECT 1 FROM {IdempotencyRecord._meta.db_table} r WHERE r.user_id = u.id AND r.key = q.key)
FROM unnest(%s::text[], %s::text[]) AS q(token, key)
JOIN {Token._meta.db_table} t ON t.key = q.token
JOIN {User._meta.db_table} u ON u.id = t.user_id
"""  # noqa: S608


@dataclass(frozen=True)
class Buyer:
    user_id: int
    key_seen: bool


def _who(asked: list[tuple[str, str]]) -> dict[tuple[str, str], Buyer]:
    """The active users of these (token, idempotency key) pairs: one indexed read for a
    whole batch."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(_WHO, [[t for t, _ in asked], [k for _, k in asked]])
            rows = cursor.fetchall()
    finally:
        connection.close()  # back to the pool: this thread serves no request
    return {(t, k): Buyer(user_id=u, key_seen=seen) for t, k, u, active, seen in rows if active}


class WhoBatch:
    """Token lookups of one event loop, batched: every lookup asked while a batch is being
    read joins the next one, so a storm of 1,000 buyers costs a few queries and a few
    thread hops, not 1,000 (at most ``executor``'s workers batches at once)."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        self.waiting: dict[tuple[str, str], asyncio.Future[Buyer | None]] = {}
        self.slots = asyncio.Semaphore(executor._max_workers)
        self.flushing = False
        self.tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coroutine: Any) -> "asyncio.Task[None]":
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def who(self, token: str, key: str) -> Buyer | None:
        loop = asyncio.get_running_loop()
        future = self.waiting.get((token, key))
        if future is None:
            future = self.waiting[(token, key)] = loop.create_future()
        if not self.flushing:
            self.flushing = True
            self._spawn(self.flush())
        return await asyncio.shield(future)

    async def flush(self) -> None:
        try:
            while self.waiting:
                await self.slots.acquire()
                batch, self.waiting = self.waiting, {}
                task = self._spawn(self.read(batch))
                task.add_done_callback(lambda _: self.slots.release())
                await asyncio.sleep(0)  # let the next turn's lookups gather
        finally:
            self.flushing = False

    async def read(self, batch: dict[tuple[str, str], "asyncio.Future[Buyer | None]"]) -> None:
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(self.executor, _who, list(batch))
        except Exception as exc:
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for asked, future in batch.items():
            if not future.done():
                future.set_result(found.get(asked))


def _ensure(session: int | None, product: int) -> bool:
    try:
        return stock_gate_ensure(session_id=session, product_id=product)
    finally:
        connection.close()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _token(scope: Scope) -> str | None:
    """The key of ``Authorization: Token <key>`` as DRF's TokenAuthentication reads it."""
    parts = (_header(scope, b"authorization") or b"").split()
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        return None


class OrderStorm:
    """ASGI wrapper of Django's HTTP app: see the module's docstring."""

    def __init__(self, app: ASGIHandler) -> None:
        self.app = app
        pool = int(settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {})
                   .get("max_size", 4))  # fmt: skip
        # Lookups get threads of their own: refusals must not wait behind winners' writes,
        # which queue on the offer's row. Together they never exceed the pool.
        self.lookup_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="order-who")
        self.executor = ThreadPoolExecutor(
            max_workers=max(1, pool - 2), thread_name_prefix="order-write"
        )
        self.refuser: BaseHandler | None = None
        self.lookups = WhoBatch(self.lookup_executor)
        self.building: dict[tuple[int | None, int], asyncio.Future[bool]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return await self.app(scope, receive, send)
        token = _token(scope)
        length = (_header(scope, b"content-length") or b"").decode("latin-1")
        if token is None or not length.isdigit() or int(length) > settings.API_MAX_BODY_BYTES:
            return await self.app(scope, receive, send)  # Django answers these as before
        body = await _read_body(receive)
        if body is None:  # the client left
            return
        outcome = await self.decide(scope, token, body)
        if isinstance(outcome, DomainError):
            return await self.answer(scope, body, outcome, send)
        if isinstance(outcome, Admitted):
            return await self.answer(scope, body, await self.place(outcome), send)
        await self.app(scope, _replaying(body, receive), send)

    async def place(self, admitted: "Admitted") -> "Answer | DomainError":
        """The admitted buyer's order, written on the bounded executor (the view's own
        ``order_create``): no thread of its own, no middleware hop."""
        from orders.api import order_create

        def write() -> tuple[int, Any, dict[str, str]]:
            try:
                return order_create(
                    user=User.objects.get(pk=admitted.user_id), fields=admitted.fields,
                    key=admitted.key, path=PATH, data=admitted.data, admitted=admitted.taken,
                )  # fmt: skip
            finally:
                connection.close()

        loop = asyncio.get_running_loop()
        try:
            return Answer(*await loop.run_in_executor(self.executor, write))
        except DomainError as exc:
            return exc
        except Exception as exc:
            mapped = service_error(exc) or input_error(exc)
            if mapped is None:
                raise
            return mapped

    async def decide(
        self, scope: Scope, token: str, body: bytes
    ) -> "Admitted | DomainError | None":
        """The admission, the refusal, or None (let the view do it all)."""
        from orders.api import OrderIn

        try:
            data = jsonlimits.loads(body.decode())
        except (ValueError, UnicodeDecodeError):
            return None
        serializer = OrderIn(data=data)
        if not isinstance(data, dict) or not serializer.is_valid():
            return None
        fields = serializer.validated_data
        if len(fields["items"]) != 1:
            return None
        key = _header(scope, b"idempotency-key")
        key_text = key.decode("latin-1") if key is not None else ""
        if key is not None and not (1 <= len(key_text) <= 255 and key_text.isprintable()):
            return None
        try:
            buyer = await self.lookups.who(token, key_text)
        except Exception:  # the database is down or busy: the view answers that
            return None
        if buyer is None or buyer.key_seen:
            return None
        line = fields["items"][0]
        session, product, qty = fields.get("session"), line["product"], line["qty"]
        gate = offer_gate(session, product) if session is not None else product_gate(product)
        admit_token = secrets.token_hex(12)
        try:
            admission = await gate.aadmit(
                user=buyer.user_id, token=admit_token, n=qty, now=time.time()
            )
            if admission.status == "gone" and await self.ensure(session, product):
                admission = await gate.aadmit(
                    user=buyer.user_id, token=admit_token, n=qty, now=time.time()
                )
        except (RedisError, OSError, DatabaseError):
            # Redis or the database failing: the view answers it (``unavailable``); an
            # admission whose reply was lost is settled by reconcile (no line: given back).
            log.warning("order storm path: gate unreachable, leaving it to the view")
            return None
        if admission.admitted:
            taken = Taken(gate=gate, token=admit_token, product=product, qty=qty,
                          live=session is not None)  # fmt: skip
            return Admitted(taken=taken, user_id=buyer.user_id, fields=dict(fields),
                            key=key_text if key is not None else None, data=data)  # fmt: skip
        if admission.status in ("sold_out", "already", "limit"):
            return refusal_of(admission, product)
        return None  # missing (to rebuild), closed, not open: the view's path

    async def ensure(self, session: int | None, product: int) -> bool:
        """Build a missing gate once per process however many buyers found it missing: the
        first storm on a new offer arrives before any gate exists."""
        unit = (session, product)
        building = self.building.get(unit)
        if building is None:
            loop = asyncio.get_running_loop()
            building = loop.run_in_executor(self.executor, _ensure, session, product)
            self.building[unit] = building
            building.add_done_callback(lambda _: self.building.pop(unit, None))
        try:
            return await asyncio.shield(building)
        except DomainError:  # Unavailable: the view says so, or succeeds
            return False

    async def answer(
        self, scope: Scope, body: bytes, answer: "Answer | DomainError", send: Send
    ) -> None:
        """Send ``answer`` through Django's middleware, on the loop: the same headers as
        any API answer, no thread (none of it touches the database for a JSON answer)."""
        if self.refuser is None:
            self.refuser = BaseHandler()
            self.refuser.load_middleware(is_async=False)
        request, problem = self.app.create_request(scope, io.BytesIO(body))
        if request is None:
            return await self.app.send_response(problem, send)
        request.urlconf = _AnswerUrls  # type: ignore[attr-defined]
        request.order_answer = answer  # type: ignore[attr-defined]
        response = self.refuser.get_response(request)
        await self.app.send_response(response, send)


@dataclass(frozen=True)
class Admitted:
    """A buyer the gate admitted, with what ``order_create`` needs."""

    taken: Taken
    user_id: int
    fields: dict[str, Any]
    key: str | None
    data: Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


@csrf_exempt
def _answer_view(request: Any) -> Any:
    """The prepared answer, rendered as DRF renders the view's (``api_exception_handler``
    for a refusal)."""
    from django.http import HttpResponse

    answer: Answer | DomainError = request.order_answer
    if isinstance(answer, DomainError):
        headers = {}
        if "retry_after_s" in answer.extra:
            headers["Retry-After"] = str(answer.extra["retry_after_s"])
        answer = Answer(answer.status, answer.as_dict(), headers)
    return HttpResponse(
        JSONRenderer().render(answer.body), status=answer.status, headers=answer.headers,
        content_type="application/json",
    )  # fmt: skip


class _AnswerUrls:
    urlpatterns = [path(PATH.lstrip("/"), _answer_view)]


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then the client's own messages."""
    sent = False

    async def again() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
