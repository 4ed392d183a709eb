"""`POST /login/api-secret` and `POST /token/refresh`: Bearer tokens for the calls that would
rather not send the secret (the service sends `PortOne <secret>` instead)."""

from __future__ import annotations

from ..wire import Reply, Request, json_reply
from .wire import UNAUTHORIZED_REPLY, Context, invalid


def login(ctx: Context, req: Request) -> Reply:
    """`{apiSecret}` → `{accessToken, refreshToken}`; a wrong secret is 401."""
    secret = req.body.get("apiSecret")
    if not isinstance(secret, str) or not secret:
        return invalid("apiSecret is required")
    tokens = ctx.state.tokens.login(secret)
    return UNAUTHORIZED_REPLY if tokens is None else json_reply(200, tokens)


def refresh(ctx: Context, req: Request) -> Reply:
    """`{refreshToken}` → new tokens; the old refresh token (or an older one) is 401."""
    token = req.body.get("refreshToken")
    if not isinstance(token, str) or not token:
        return invalid("refreshToken is required")
    tokens = ctx.state.tokens.refresh(token)
    return UNAUTHORIZED_REPLY if tokens is None else json_reply(200, tokens)
