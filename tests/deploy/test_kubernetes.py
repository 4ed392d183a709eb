"""The Kubernetes manifests in deploy/kubernetes/, checked without a cluster.

kubernetes-validate checks every manifest against the Kubernetes API schemas (as `make lint`
does); the manifests are parsed and checked for what running several replicas needs: the
image's non-root user, a read-only root filesystem, the data and metrics volumes where their
variables point, the probes, a stop grace period longer than gunicorn's graceful_timeout, every
setting documented, the Secret example blank, and the Service, PDB and HPA aimed at the
Deployment's pods.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from billing_service.config import ConfigError, Settings

from ..support import ROOT
from .manifests import (
    K8S,
    OPTIONAL_SECRET_KEYS,
    SECRET_KEYS,
    container_env,
    load,
    manifests,
    plain_env,
    secret_refs,
)

BIN = Path(sys.executable).parent
# Those of the Makefile's lint target.
KUBERNETES_VERSIONS = ("1.33", "1.37")
IMAGE_UID = 10001


# --- kubernetes-validate ---------------------------------------------------------------------


def test_kubernetes_validate_passes_every_manifest() -> None:
    files = manifests()
    assert {p.name for p in files} >= {
        "deployment.yaml",
        "service.yaml",
        "pdb.yaml",
        "hpa.yaml",
        "configmap.yaml",
        "secret.example.yaml",
        "networkpolicy.yaml",
    }
    versions = [arg for v in KUBERNETES_VERSIONS for arg in ("--kubernetes-version", v)]
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", *versions, *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # A kind or apiVersion the tool has no schema for is only a WARN (exit 0): every object
    # must really have passed, against every version.
    assert "WARN" not in result.stdout and "ERROR" not in result.stdout, result.stdout
    passed = re.findall(
        r"^INFO (\S+) passed for resource \S+ against version (\S+)$", result.stdout, re.M
    )
    assert sorted(passed) == sorted((str(p), v) for p in files for v in KUBERNETES_VERSIONS), (
        result.stdout
    )


def test_the_makefile_validates_the_same_versions_strictly() -> None:
    lint = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    (line,) = [line for line in lint.splitlines() if "kubernetes-validate" in line]
    assert "--strict" in line
    assert re.findall(r"--kubernetes-version (\S+)", line) == list(KUBERNETES_VERSIONS)
    assert "deploy/kubernetes/*.yaml" in line


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = load("kustomization.yaml")
    assert "namespace" not in kustomization, "namespace-agnostic"
    # Applying the example would replace the real Secret with blanks.
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in manifests() if p.name != "secret.example.yaml"
    )
    for path in manifests():
        assert "namespace" not in load(path.name)["metadata"], f"{path.name}: no namespace"


# --- the Deployment --------------------------------------------------------------------------


def test_deployment_basics(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    assert deployment["metadata"]["name"] == "billing-service"
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "billing-service:1.0.0"
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    # gunicorn drains on SIGTERM itself.
    assert "lifecycle" not in container


def test_runs_as_the_images_non_root_user_read_only(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    # The container's securityContext overrides the pod's, field by field.
    effective = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert effective["runAsNonRoot"] is True
    assert effective["runAsUser"] == IMAGE_UID and effective["runAsGroup"] == IMAGE_UID
    assert pod["securityContext"]["fsGroup"] == IMAGE_UID
    assert effective["readOnlyRootFilesystem"] is True
    assert effective["allowPrivilegeEscalation"] is False
    assert effective["capabilities"] == {"drop": ["ALL"]}
    assert effective["seccompProfile"] == {"type": "RuntimeDefault"}
    # The uid is the image's.
    assert f"USER {IMAGE_UID}:{IMAGE_UID}" in (ROOT / "Dockerfile").read_text()


def test_volumes_are_mounted_where_their_variables_point(
    pod: dict[str, Any], container: dict[str, Any], configmap: dict[str, Any]
) -> None:
    env = container_env(container, configmap)
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    for variable, path, medium in [
        ("BILLING_DATA_DIR", "/data", None),
        ("PROMETHEUS_MULTIPROC_DIR", "/tmp/metrics", "Memory"),
    ]:
        assert env[variable] == path
        # Wherever it is set, it says the same (the Deployment's own env wins over envFrom).
        assert configmap["data"].get(variable, path) == path
        volume = volumes[mounts[path]]
        assert "emptyDir" in volume, f"{variable}: an emptyDir"
        assert volume["emptyDir"].get("medium") == medium
    # The root filesystem is read-only: /tmp must be writable all the same.
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert not any(m.get("readOnly") for m in container["volumeMounts"])


def test_probes(container: dict[str, Any]) -> None:
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz" and liveness["port"] in ("http", 8000)
    assert readiness["path"] == "/readyz" and readiness["port"] in ("http", 8000)
    assert container["readinessProbe"]["timeoutSeconds"] == 5
    if "startupProbe" in container:
        # Never a probe that calls I'mport: a slow I'mport must not restart pods.
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_stop_grace_period_exceeds_gunicorns_graceful_timeout(
    pod: dict[str, Any], container: dict[str, Any], configmap: dict[str, Any]
) -> None:
    # gunicorn.conf.py read with the pod's settings; Secret values made up but well-formed, so
    # the service's own Settings compute graceful_timeout rather than the fallback.
    env = plain_env(container, configmap)
    env.update(
        IAMPORT_API_KEY="k8s-test-key",
        IAMPORT_API_SECRET="k8s-test-secret",
        BILLING_API_KEYS="checkout:k8s-test-caller-secret",
        BILLING_CARD_FINGERPRINT_KEY="k8s-test-fingerprint-key-0123456789",
        BILLING_STATE_URL="redis://redis:6379/0",
        PATH=os.environ.get("PATH", ""),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; c = runpy.run_path('gunicorn.conf.py'); "
            "print(c['_settings'] is not None, c['graceful_timeout'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed, graceful_timeout = result.stdout.strip().splitlines()[-1].split()
    assert parsed == "True", "the pod's settings do not parse: " + result.stdout + result.stderr
    assert pod["terminationGracePeriodSeconds"] > float(graceful_timeout)


def test_secrets_come_from_the_secret_by_key(
    container: dict[str, Any], secret: dict[str, Any]
) -> None:
    refs = secret_refs(container)
    assert set(refs) == SECRET_KEYS | OPTIONAL_SECRET_KEYS
    for name, (secret_name, key) in refs.items():
        assert secret_name == secret["metadata"]["name"] == "billing-service-secrets"
        assert key == name
    optional = {
        var["name"]
        for var in container["env"]
        if var.get("valueFrom", {}).get("secretKeyRef", {}).get("optional")
    }
    assert optional == OPTIONAL_SECRET_KEYS
    # And no secret sits in plain text in the Deployment.
    plain = {var["name"] for var in container.get("env", []) if "value" in var}
    assert not plain & (SECRET_KEYS | OPTIONAL_SECRET_KEYS)


def test_configmap_holds_the_non_secret_settings(configmap: dict[str, Any]) -> None:
    assert configmap["metadata"]["name"] == "billing-service-config"
    data = configmap["data"]
    assert {
        "IAMPORT_CONNECT_TIMEOUT": "3",
        "IAMPORT_READ_TIMEOUT": "30",
        "WEB_CONCURRENCY": "2",
        "BILLING_DATA_DIR": "/data",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics",
    }.items() <= data.items()
    assert all(isinstance(value, str) for value in data.values())
    assert not set(data) & (SECRET_KEYS | OPTIONAL_SECRET_KEYS)
    # Real I'mport, over TLS: an empty Secret must stop the pods, never start a sandbox.
    assert data["BILLING_SANDBOX"] == "false"
    assert data["IAMPORT_API_URL"].startswith("https://")


def test_secret_example_is_blank(secret: dict[str, Any]) -> None:
    assert secret["kind"] == "Secret"
    assert "data" not in secret, "placeholders in stringData only"
    assert set(secret["stringData"]) == SECRET_KEYS | OPTIONAL_SECRET_KEYS
    assert all(value == "" for value in secret["stringData"].values())
    assert "EXAMPLE" in (K8S / "secret.example.yaml").read_text()


def test_every_variable_is_documented_in_the_readme(
    container: dict[str, Any], configmap: dict[str, Any]
) -> None:
    readme = (ROOT / "README.md").read_text()
    configuration = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = set(container_env(container, configmap)) | set(secret_refs(container))
    undocumented = sorted(name for name in names if f"`{name}`" not in configuration)
    assert not undocumented, f"not in README's Configuration table: {undocumented}"


def test_resources_are_set(container: dict[str, Any]) -> None:
    resources = container["resources"]
    assert set(resources["requests"]) >= {"cpu", "memory"}
    assert set(resources["limits"]) >= {"cpu", "memory"}


def test_replicas_spread_across_nodes(deployment: dict[str, Any], pod: dict[str, Any]) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()


# --- what points at the Deployment -----------------------------------------------------------


def test_service_selects_the_pods(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    service = load("service.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["selector"] and service["spec"]["selector"].items() <= labels.items()
    # The Deployment's own selector picks the same pods.
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert port["targetPort"] in [p["name"] for p in container["ports"]]


def test_pdb_covers_the_pods(deployment: dict[str, Any]) -> None:
    pdb = load("pdb.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["minAvailable"] == 1
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector and selector.items() <= labels.items()


def test_hpa_scales_the_deployment(deployment: dict[str, Any]) -> None:
    hpa = load("hpa.yaml")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


POD_SECRETS = {
    "IAMPORT_API_KEY": "k8s-test-key",
    "IAMPORT_API_SECRET": "k8s-test-secret",
    "BILLING_API_KEYS": "checkout:k8s-test-caller-secret",
    "BILLING_CARD_FINGERPRINT_KEY": "k8s-test-fingerprint-key-0123456789",
}


@pytest.mark.parametrize(
    ("state_url", "refusal"),
    [
        # The Secret's key left blank, as the example ships it.
        ({"BILLING_STATE_URL": ""}, "BILLING_STATE_URL is set but empty"),
        # No key at all, or an embedded store: each pod would keep its own.
        ({}, "BILLING_REQUIRE_SHARED_STATE=true"),
        ({"BILLING_STATE_URL": "sqlite:////data/state.db"}, "BILLING_REQUIRE_SHARED_STATE=true"),
    ],
)
def test_pods_without_a_shared_store_refuse_to_start(
    container: dict[str, Any], configmap: dict[str, Any], state_url: dict[str, str], refusal: str
) -> None:
    env = {k: v for k, v in container_env(container, configmap).items() if v is not None}

    with pytest.raises(ConfigError, match=refusal):
        Settings.from_env({**env, **POD_SECRETS, **state_url})
    shared = Settings.from_env({**env, **POD_SECRETS, "BILLING_STATE_URL": "redis://r:6379/0"})
    assert shared.state_url == "redis://r:6379/0"
