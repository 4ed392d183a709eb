"""What the deployment files must say (issue 16): every setting README lists (Kubernetes and
compose), a Secret left empty refused, one version for the image, pyproject.toml and the API,
who may reach the pods, and compose's sandbox sending its notices to the service."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from typing import Any

import pytest

from billing_service.app import API_VERSION
from billing_service.config import Settings

from ..support import ROOT
from .manifests import (
    compose,
    compose_environment,
    configuration_variables,
    container_env,
    interpolate,
    load,
    plain_env,
    secret_refs,
)


def test_every_readme_setting_is_named_in_the_manifests(
    container: dict[str, Any], configmap: dict[str, Any]
) -> None:
    named = set(container_env(container, configmap)) | set(secret_refs(container))
    missing = sorted(configuration_variables() - named)
    assert not missing, f"README's settings not in the ConfigMap or the Secret: {missing}"


def test_an_empty_secret_stops_the_pods(
    container: dict[str, Any], configmap: dict[str, Any], secret: dict[str, Any]
) -> None:
    # The example Secret as it is, with the ConfigMap: the service must refuse to start.
    env = plain_env(container, configmap)
    env.update(secret["stringData"], PATH=os.environ.get("PATH", ""))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; print(runpy.run_path('gunicorn.conf.py')['_settings'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "None"  # on_starting exits


def test_the_image_pyproject_and_api_versions_agree(container: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    label = re.search(
        r'org\.opencontainers\.image\.version="([^"]+)"', (ROOT / "Dockerfile").read_text()
    )
    assert label is not None
    assert container["image"].rsplit(":", 1)[1] == pyproject["project"]["version"]
    assert pyproject["project"]["version"] == API_VERSION == label.group(1)


def test_network_policy_lets_in_only_callers_the_scraper_and_the_ingress_controller(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    policy = load("networkpolicy.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    assert spec["policyTypes"] == ["Ingress"]
    port_names = {p["name"] for p in container["ports"]}
    sources = []
    for rule in spec["ingress"]:
        # Every rule names its sources and the service's port: nothing is open to all.
        assert rule.get("from"), "a rule without `from` lets everyone in"
        assert [p["port"] for p in rule["ports"]] == ["http"] and "http" in port_names
        for peer in rule["from"]:
            assert "ipBlock" not in peer and "namespaceSelector" in peer
            assert peer["namespaceSelector"].get("matchLabels"), "not every namespace"
            sources.append(peer)
    callers, scraper, ingress = sources
    assert "podSelector" not in callers  # every pod of a caller's namespace
    assert scraper["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "prometheus"
    assert ingress["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "ingress-nginx"


def test_make_run_asks_for_sandbox_mode_unless_told_otherwise() -> None:
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    (line,) = [line for line in recipe.splitlines() if "gunicorn" in line]
    assert line.strip().startswith("BILLING_SANDBOX=$${BILLING_SANDBOX:-true} ")


# --- docker-compose.yml ----------------------------------------------------------------------

# Where compose's sandbox posts its notices: the service, at its token path.
NOTICES = "http://billing:8000/webhooks/iamport/"


def test_compose_names_every_setting_readme_lists() -> None:
    env = compose_environment(compose()["services"]["billing"])
    missing = sorted(configuration_variables() - set(env))
    assert not missing, f"not in docker-compose.yml's billing environment: {missing}"


@pytest.mark.parametrize("shell", [{}, {"BILLING_WEBHOOK_TOKEN": "my-own-webhook-token-1"}])
def test_compose_sandbox_sends_its_notices_to_the_service(shell: dict[str, str]) -> None:
    services = compose()["services"]
    command = [interpolate(arg, shell) for arg in services["sandbox"]["command"]]
    webhook_url = command[command.index("--webhook-url") + 1]
    settings = Settings.from_env(compose_environment(services["billing"], shell))

    assert webhook_url == NOTICES + (settings.webhook_token or "")
    assert settings.webhook_token == shell.get("BILLING_WEBHOOK_TOKEN", settings.webhook_token)
    # billing:8000 is the service's own port inside the compose network.
    assert compose_environment(services["billing"])["PORT"] == "8000"
