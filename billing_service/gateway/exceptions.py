"""Exceptions raised by the I'mport gateway, from the most general to the most specific."""

from __future__ import annotations


class GatewayError(Exception):
    """I'mport could not do what was asked.

    ``message`` is safe to show a caller: it never holds card data, tokens or secrets.
    """

    def __init__(
        self, message: str, *, http_status: int | None = None, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, "
            f"http_status={self.http_status!r}, code={self.code!r})"
        )


class GatewayUnavailable(GatewayError):
    """The connection to I'mport was refused, reset or lost."""


class GatewayTimeout(GatewayError):
    """I'mport did not answer within the connect or read timeout."""


class GatewayAuthFailed(GatewayError):
    """I'mport refused our REST API key and secret, or kept refusing our access token."""


class UnexpectedResponse(GatewayError):
    """I'mport answered with a 5xx, a redirect, a body that is not JSON or an unexpected shape."""


class ProviderError(GatewayError):
    """I'mport answered with its envelope's ``code`` != 0: it refused the request."""


class CardRejected(ProviderError):
    """I'mport (or the PG behind it) refused to issue a billing key for the card."""
