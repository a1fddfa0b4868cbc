"""The web server around the app (`app.py` serves itself through `st.App`): security headers on every
response, the route that sets and clears the session cookie, and downloads only for a live session."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpi import sessions
from kpi.settings import get_settings

SESSION_ROUTE = sessions.ROUTE
COOKIE_DAYS = 30  # the browser keeps the cookie; the store decides whether its session is still alive
SECURITY_HEADERS = [(b"content-security-policy", b"frame-ancestors 'self'"), (b"x-frame-options", b"SAMEORIGIN"),
                    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]


def _secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a proxy that says so)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == request.headers.get("host", "")


async def session_cookie(request: Request) -> Response:
    """POST a one-time token to receive the HttpOnly session cookie; DELETE to clear it."""
    if not _same_origin(request):
        return Response(status_code=403)
    secure = _secure(request)
    if request.method == "DELETE":
        response = Response(status_code=204)
        response.delete_cookie(sessions.COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
        return response
    body = await request.body()
    session_id = sessions.redeem(body[:sessions.MAX_ID + 1].decode("ascii", "replace").strip())
    if session_id is None:
        return Response(status_code=403)
    response = Response(status_code=204)
    response.set_cookie(sessions.COOKIE, session_id, max_age=COOKIE_DAYS * 86400, path="/", secure=secure,
                        httponly=True, samesite="lax")
    response.headers["cache-control"] = "no-store"
    return response


class SecurityMiddleware:
    """Adds the framing and sniffing headers to every response; media (exports) only for a live session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith("/media/") and not await self._allowed(scope):
            await Response(status_code=403, headers={"x-frame-options": "SAMEORIGIN"})(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _allowed(scope: Scope) -> bool:
        settings = get_settings()
        store = sessions.served_store()
        if not settings.require_sign_in or store is None:
            return True
        cookie = Request(scope).cookies.get(sessions.COOKIE)
        try:
            user = await anyio.to_thread.run_sync(
                lambda: sessions.resolve(store, cookie, idle_minutes=settings.session_idle_minutes))
        except Exception:  # noqa: BLE001 - a store that cannot answer lets nothing out
            return False
        return user is not None


ROUTES: list[Any] = [Route(SESSION_ROUTE, session_cookie, methods=["POST", "DELETE"])]
MIDDLEWARE = [Middleware(SecurityMiddleware)]
