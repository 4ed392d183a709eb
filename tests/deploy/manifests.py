"""The deployment files (deploy/kubernetes/, docker-compose.yml), read for tests/deploy/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..support import ROOT

K8S = ROOT / "deploy" / "kubernetes"
# What the Secret must hold: the credentials, the callers, the fingerprint key, the Redis URL.
SECRET_KEYS = {
    "IAMPORT_API_KEY",
    "IAMPORT_API_SECRET",
    "BILLING_API_KEYS",
    "BILLING_CARD_FINGERPRINT_KEY",
    "BILLING_STATE_URL",
}
# What it may hold (a Secret made before these existed still starts the pods).
OPTIONAL_SECRET_KEYS = {
    "BILLING_CARD_FINGERPRINT_KEY_PREVIOUS",
    "BILLING_EVENT_SECRET",
    "BILLING_WEBHOOK_TOKEN",
    "PORTONE_API_SECRET",  # PortOne V2's, instead of I'mport's key and secret
    "PORTONE_WEBHOOK_SECRET",
}


def load(name: str) -> dict[str, Any]:
    documents = [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    assert len(documents) == 1, f"{name}: one object per file"
    return documents[0]


def manifests() -> list[Path]:
    """What `make lint` validates: every file but kustomization.yaml."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def container_env(container: dict[str, Any], configmap: dict[str, Any]) -> dict[str, str | None]:
    """The container's environment: the ConfigMap's, then its own `env` (which wins); values
    from the Secret as None."""
    refs = [source["configMapRef"]["name"] for source in container.get("envFrom", [])]
    assert refs == [configmap["metadata"]["name"]], "envFrom: the ConfigMap, and only it"
    env: dict[str, str | None] = dict(configmap["data"])
    for var in container.get("env", []):
        env[var["name"]] = var["value"] if "value" in var else None
    return env


def plain_env(container: dict[str, Any], configmap: dict[str, Any]) -> dict[str, str]:
    """The container's environment without the values it takes from the Secret."""
    return {
        name: value
        for name, value in container_env(container, configmap).items()
        if value is not None
    }


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        var["name"]: (ref["name"], ref["key"])
        for var in container.get("env", [])
        if (ref := var.get("valueFrom", {}).get("secretKeyRef"))
    }


def compose() -> dict:
    """docker-compose.yml, parsed."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict)
    return compose


def interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR-default}, from ``env``."""

    def substitute(match: re.Match[str]) -> str:
        name, op, default = match[1], match[2], match[3] or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        return env.get(name, "")

    return re.sub(r"\$\{(\w+)(?:(:?-)([^}]*))?\}", substitute, str(value))


def compose_environment(service: dict, env: dict[str, str] | None = None) -> dict[str, str]:
    """A compose service's environment, interpolated from ``env``."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    return {name: interpolate(value, env or {}) for name, value in raw.items()}


def configuration_variables() -> set[str]:
    """The variables README's configuration table names (first column)."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}
