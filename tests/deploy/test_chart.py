"""The Helm chart renders (Go-template subset renderer) into documents valid against the
Kubernetes schemas they declare, with the deployment's safety properties."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from coordinator.config import Settings
from tests.support.gotemplate import render_chart

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "coordinator"
KUBERNETES = "1.33.0"  # native sidecars (restartPolicy on init containers) need 1.29+

TRIAL_SECRETS = {
    "secrets": {
        "create": True,
        "privateKeyPem": "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
        "adminToken": "t" * 40,
        "lndMacaroon": "0201",
        "lndTlsCert": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    }
}

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "trial secrets and S3 keys": {**TRIAL_SECRETS, "s3CredentialsSecret": "coordinator-s3"},
    "no backups": {"config": {"backup": {"enabled": False}}},
    "scheduling": {
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        "podAnnotations": {"example.org/team": "ops"},
        "persistence": {"storageClass": "fast"},
    },
}


def documents(values: dict[str, Any]) -> list[dict[str, Any]]:
    docs = []
    for name, text in render_chart(CHART, values).items():
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                doc["__template"] = name
                docs.append(doc)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == kind]
    return found


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_document_is_valid_for_its_kind(variant: str) -> None:
    docs = documents(VARIANTS[variant])
    kinds = sorted(d["kind"] for d in docs)
    expected = ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"]
    assert kinds == sorted(expected + (["Secret"] if "secrets" in VARIANTS[variant] else []))
    for doc in docs:
        template = doc.pop("__template")
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{template}: {exc.message} at {list(exc.path)}")


def test_the_rendered_configuration_is_a_valid_production_config() -> None:
    docs = documents({})
    text = by_kind(docs, "ConfigMap")["data"]["coordinator.toml"]
    settings = Settings.model_validate(tomllib.loads(text))
    assert settings.profile == "production"
    assert settings.backup.enabled and not settings.backup.supervise
    assert (settings.metrics.host, settings.admin.host) == ("127.0.0.1", "127.0.0.1")
    assert settings.db.data_folder == Path("/data")


def test_backups_restore_first_and_replicate_from_a_native_sidecar() -> None:
    pod = by_kind(documents({}), "Deployment")["spec"]["template"]["spec"]
    secrets, restore, sidecar = pod["initContainers"]
    assert secrets["name"] == "secrets"
    assert restore["args"] == ["backup", "restore", "--if-missing"]
    assert "restartPolicy" not in restore
    assert sidecar["args"] == ["backup", "replicate"] and sidecar["restartPolicy"] == "Always"
    [main] = pod["containers"]
    assert main["args"] == ["serve"]
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert {m["mountPath"] for m in sidecar["volumeMounts"]} == mounts
    without = by_kind(documents(VARIANTS["no backups"]), "Deployment")["spec"]["template"]
    assert [c["name"] for c in without["spec"]["initContainers"]] == ["secrets"]


def test_liveness_and_readiness_are_separate_routes() -> None:
    [main] = by_kind(documents({}), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert main["livenessProbe"]["httpGet"]["path"] == "/api/v1/live"
    assert main["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"


def test_every_container_is_unprivileged_on_a_read_only_root() -> None:
    deployment = by_kind(documents({}), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"] + pod["initContainers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        if container["name"] == "secrets":  # copies the keys, owner-only, into memory
            assert writable == {"/etc/coordinator-secrets"}
        else:
            assert writable == {"/data", "/tmp"}


def test_the_service_exposes_only_the_public_listener() -> None:
    docs = documents({})
    service = by_kind(docs, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    [main] = by_kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [p["containerPort"] for p in main["ports"]] == [8080]


def test_secrets_come_from_the_named_secret_or_from_values() -> None:
    pod = by_kind(documents({}), "Deployment")["spec"]["template"]["spec"]
    names = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert names == {"coordinator-secrets"}
    memory = [v for v in pod["volumes"] if v["name"] == "secrets"]
    assert memory == [{"name": "secrets", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    trial = documents(TRIAL_SECRETS)
    secret = by_kind(trial, "Secret")
    assert set(secret["data"]) == {"private-key.pem", "admin-token", "admin.macaroon", "tls.cert"}
    pod = by_kind(trial, "Deployment")["spec"]["template"]["spec"]
    assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {
        secret["metadata"]["name"]
    }
