"""Body size limit: bodies above MAX_BODY_BYTES get 413 before anything parses them — by the
Content-Length header when there is one, by counting chunks when the body is streamed.

The chunks (at most MAX_BODY_BYTES) are also kept in the scope, so an error handler can say where
in the body a parser gave up even when the parser's exception does not carry the text."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RAW_BODY_SCOPE_KEY, PayloadTooLarge, problem_for


class _TooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        exceeded = False
        chunks: list[bytes] = scope.setdefault(RAW_BODY_SCOPE_KEY, [])
        forwarded = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
                chunks.append(message.get("body", b""))
            return message

        async def guarded_send(message: Message) -> None:
            # Once the limit is hit, whatever the app makes of the aborted read is replaced by 413.
            nonlocal forwarded
            if exceeded and not forwarded:
                return
            forwarded = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        if exceeded and not forwarded:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_for(
            PayloadTooLarge,
            scope.get("path"),
            f"request bodies are limited to {self.max_bytes} bytes (MAX_BODY_BYTES)",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
