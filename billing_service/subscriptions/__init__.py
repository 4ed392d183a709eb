"""Billing keys: issuance."""

from .routes import blp

__all__ = ["blp"]
