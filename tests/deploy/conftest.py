"""The manifests' objects, as fixtures of tests/deploy/."""

from __future__ import annotations

from typing import Any

import pytest

from .manifests import load


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return load("deployment.yaml")


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["containers"]
    return container


@pytest.fixture(scope="module")
def configmap() -> dict[str, Any]:
    return load("configmap.yaml")


@pytest.fixture(scope="module")
def secret() -> dict[str, Any]:
    return load("secret.example.yaml")
