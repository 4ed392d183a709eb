"""What the app holds for its views: the I'mport client (``app.extensions``)."""

from __future__ import annotations

from flask import current_app

from ..gateway import IamportClient


def iamport() -> IamportClient:
    """The app's I'mport client."""
    client: IamportClient = current_app.extensions["iamport"]
    return client
