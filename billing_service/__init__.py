"""Billing-key service for I'mport (PortOne V1).

``create_app`` lives in ``billing_service.app`` and is imported on first use, so that the
bundled sandbox (``python -m billing_service.sandbox``) runs without loading Flask.
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'billing_service' has no attribute {name!r}")
