"""Chart tests in the manner of Airflow's helm-tests and Dagster's chart tests: render the chart offline
with the Helm SDK (helm-python-sdk embeds Helm), validate every object against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict), and assert on the objects.

Each values combination is rendered once per session (``functools.cache``); the suite runs in seconds.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from flageval_launcher.registry import SERVICE_MODULES

HELM_DIR = Path(__file__).resolve().parents[1]
CHART = HELM_DIR / "flageval"

KUBE_VERSION = "1.34.0"
RELEASE = "fe"
NAMESPACE = "flageval"
# The chart must deploy every service the launcher knows (one source of truth).
SERVICES = list(SERVICE_MODULES)
KUEUE_API = "kueue.x-k8s.io/v1beta1"

# What an operator with external PostgreSQL, RabbitMQ and S3 must give (the chart's defaults otherwise).
EXTERNAL: dict[str, Any] = {
    "config": {
        "publicUrl": "https://flageval.example.org",
        "storage": {"bucket": "flageval", "endpoint": "https://s3.example.org"},
    },
    "secrets": {
        "databaseUrl": "postgresql+asyncpg://flageval:pw@db.example.org:5432/flageval",
        "brokerUrl": "amqp://flageval:pw@mq.example.org:5672/",
        "s3AccessKey": "AKIA",
        "s3SecretKey": "s3-secret",
        "smtpUrl": "smtp://mail:pw@smtp.example.org:587",
    },
    "evaluation": {"networkPolicy": {"objectStore": {"cidrs": ["203.0.113.10/32"], "port": 443}}},
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


COMBINATIONS: dict[str, dict[str, Any]] = {
    "defaults": EXTERNAL,
    "kueue": _merge(
        EXTERNAL,
        {
            "evaluation": {"namespace": "flageval-jobs"},
            "kueue": {"enabled": True},
            "cardTypes": [
                {
                    "id": "a100-80g",
                    "nodeLabels": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
                    "gpus": 16,
                    "cpu": "128",
                    "memory": "1Ti",
                },
                {
                    "id": "h100-80g",
                    "nodeLabels": {
                        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                        "pool": "h100",
                    },
                    "gpus": 8,
                },
            ],
        },
    ),
    "in-cluster": {
        "postgresql": {"enabled": True},
        "rabbitmq": {"enabled": True},
        "minio": {"enabled": True},
    },
    "existing-secret": _merge(
        {k: v for k, v in EXTERNAL.items() if k != "secrets"},
        {"secrets": {"existingSecret": "flageval-prod"}},
    ),
    "ingress": _merge(
        EXTERNAL,
        {
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "host": "flageval.example.org",
                "tls": {"enabled": True, "secretName": "flageval-tls"},
            }
        },
    ),
    "hpa": _merge(
        EXTERNAL,
        {
            "serviceDefaults": {
                "autoscaling": {
                    "enabled": True,
                    "minReplicas": 2,
                    "maxReplicas": 8,
                    "targetCPU": 60,
                }
            },
            "services": {
                "scheduler": {"autoscaling": {"enabled": False}},
                "eval-api": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}},
            },
        },
    ),
}


@functools.cache
def chart() -> helm.Chart:
    return helm.Chart.load(CHART)


@functools.cache
def _rendered(combo: str) -> tuple[dict[str, Any], ...]:
    manifests = chart().render(
        COMBINATIONS[combo], name=RELEASE, namespace=NAMESPACE, is_install=True
    )
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return tuple(objects)


def objects(combo: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [o for o in _rendered(combo) if kind is None or o["kind"] == kind]


def one(combo: str, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(combo, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_specs(combo: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in _rendered(combo)
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
    ]


# ---- lint, schema and Kubernetes validation --------------------------------------------------------


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_lint_is_clean(combo: str) -> None:
    report = helm.lint(
        CHART,
        COMBINATIONS[combo],
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_every_object_is_valid_kubernetes(combo: str) -> None:
    core = [o for o in objects(combo) if o["apiVersion"] != KUEUE_API]
    assert core
    for obj in core:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}"
            )


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_object_names_are_unique(combo: str) -> None:
    keys = [
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects(combo)
    ]
    assert len(keys) == len(set(keys))


BAD_VALUES = {
    "unknown top-level key": {"bogus": True},
    "unknown service": {"services": {"gatewya": {}}},
    "unknown service key": {"services": {"gateway": {"replica": 2}}},
    "wrong type": {"services": {"gateway": {"replicas": "two"}}},
    "negative priority": {"priorityClasses": {"high": {"value": -1}}},
    "priority as a word": {"priorityClasses": {"low": {"value": "low"}}},
    "bad preemption policy": {
        "priorityClasses": {"medium": {"value": 500, "preemptionPolicy": "Sometimes"}}
    },
    "card type without gpus": {"cardTypes": [{"id": "a100-80g", "nodeLabels": {"a": "b"}}]},
    "bad broker url": {"secrets": {"brokerUrl": "redis://x"}},
    "metrics token with a space": {"secrets": {"metricsToken": "two words"}},
    "non-FLAGEVAL extra env": {"config": {"extraEnv": {"PATH": "/x"}}},
}


@pytest.mark.parametrize("bad", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_fail_schema_validation(bad: dict[str, Any]) -> None:
    values = _merge(EXTERNAL, bad)
    with pytest.raises(helm.HelmValuesError, match="schema"):
        chart().render(values, name=RELEASE, namespace=NAMESPACE)
    report = helm.lint(CHART, values, strict=True)
    assert report["errors"], report


def test_external_services_are_required_without_in_cluster_ones() -> None:
    with pytest.raises(helm.HelmError, match=r"config\.storage\.endpoint is required"):
        chart().render({}, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(helm.HelmError, match=r"secrets\.databaseUrl is required"):
        chart().render({"config": EXTERNAL["config"]}, name=RELEASE, namespace=NAMESPACE)


def test_values_schema_is_generated_from_the_models() -> None:
    spec = importlib.util.spec_from_file_location(
        "flageval_chart_values", HELM_DIR / "values_schema.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through sys.modules
    spec.loader.exec_module(module)
    assert (CHART / "values.schema.json").read_text() == module.render(), (
        "values.schema.json is stale: run .venv/bin/python deploy/helm/values_schema.py"
    )
    module.Values.model_validate(yaml.safe_load((CHART / "values.yaml").read_text()))


# ---- services --------------------------------------------------------------------------------------


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_each_service_has_a_deployment_and_service_with_probes(combo: str) -> None:
    for name in SERVICES:
        deployment = one(combo, "Deployment", f"{RELEASE}-{name}")
        service = one(combo, "Service", f"{RELEASE}-{name}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["flageval", "service", name]
        assert container["image"].startswith(f"flageval/{name}:")
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert service["spec"]["ports"][0]["port"] == 8000
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_platform_containers_are_hardened(combo: str) -> None:
    for where, spec in pod_specs(combo):
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            if where.startswith(("Deployment", "Job")):
                assert ctx["readOnlyRootFilesystem"] is True, where


def test_gateway_knows_every_other_service() -> None:
    (gateway,) = one("defaults", "Deployment", f"{RELEASE}-gateway")["spec"]["template"]["spec"][
        "containers"
    ]
    urls = json.loads(env_of(gateway)["FLAGEVAL_SERVICE_URLS"])
    assert urls == {name: f"http://{RELEASE}-{name}:8000" for name in SERVICES if name != "gateway"}


@pytest.mark.parametrize("name", ["eval-api", "leaderboard", "scheduler"])
def test_services_reach_each_other_for_immediate_answers(name: str) -> None:
    """eval-api → scheduler (quota charges), leaderboard → eval-api (catalog metrics)."""
    (container,) = one("defaults", "Deployment", f"{RELEASE}-{name}")["spec"]["template"]["spec"][
        "containers"
    ]
    urls = json.loads(env_of(container)["FLAGEVAL_SERVICE_URLS"])
    assert urls == {other: f"http://{RELEASE}-{other}:8000" for other in SERVICES if other != name}


def test_every_spec_setting_is_wired() -> None:
    config = one("defaults", "ConfigMap", f"{RELEASE}-config")["data"]
    secret = one("defaults", "Secret", f"{RELEASE}-secrets")["stringData"]
    assert config["FLAGEVAL_EXECUTOR"] == "kubernetes"
    assert config["FLAGEVAL_PORT"] == "8000"
    assert config["FLAGEVAL_STORAGE_URL"] == "s3://flageval"
    assert config["FLAGEVAL_S3_ENDPOINT"] == "https://s3.example.org"
    assert config["FLAGEVAL_PUBLIC_URL"] == "https://flageval.example.org"
    spec_vars = {
        "FLAGEVAL_PORT",
        "FLAGEVAL_DATA_DIR",
        "FLAGEVAL_DATABASE_URL",
        "FLAGEVAL_BROKER_URL",
        "FLAGEVAL_STORAGE_URL",
        "FLAGEVAL_S3_ENDPOINT",
        "FLAGEVAL_S3_ACCESS_KEY",
        "FLAGEVAL_S3_SECRET_KEY",
        "FLAGEVAL_S3_REGION",
        "FLAGEVAL_EXECUTOR",
        "FLAGEVAL_SMTP_URL",
        "FLAGEVAL_PUBLIC_URL",
        "FLAGEVAL_ADMIN_EMAIL",
        "FLAGEVAL_ADMIN_PASSWORD",
        "FLAGEVAL_TIMEZONE",
        "FLAGEVAL_SECRET_KEY",
    }
    assert spec_vars <= set(config) | set(secret)
    assert not set(config) & {
        "FLAGEVAL_DATABASE_URL",
        "FLAGEVAL_SECRET_KEY",
        "FLAGEVAL_ADMIN_PASSWORD",
    }
    assert len(secret["FLAGEVAL_SECRET_KEY"]) >= 32  # generated when not given
    for name in SERVICES:
        (container,) = one("defaults", "Deployment", f"{RELEASE}-{name}")["spec"]["template"][
            "spec"
        ]["containers"]
        assert container["envFrom"] == [
            {"configMapRef": {"name": f"{RELEASE}-config"}},
            {"secretRef": {"name": f"{RELEASE}-secrets"}},
        ]


def _secret_data(values: dict[str, Any]) -> dict[str, str]:
    rendered = chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    secrets = [
        doc
        for doc in yaml.safe_load_all(rendered["flageval/templates/secret.yaml"])
        if doc and doc["kind"] == "Secret"
    ]
    assert len(secrets) == 1
    data: dict[str, str] = secrets[0]["stringData"]
    return data


@pytest.mark.parametrize("combo", ["defaults", "in-cluster"])
def test_every_service_gets_the_metrics_token_from_the_secret(combo: str) -> None:
    secret = one(combo, "Secret", f"{RELEASE}-secrets")["stringData"]
    token = secret["FLAGEVAL_METRICS_TOKEN"]
    assert len(token) >= 32 and token.isalnum()  # generated when not given
    assert token not in (secret["FLAGEVAL_SECRET_KEY"], secret["FLAGEVAL_ADMIN_PASSWORD"])
    assert "FLAGEVAL_METRICS_TOKEN" not in one(combo, "ConfigMap", f"{RELEASE}-config")["data"]
    for name in SERVICES:
        (container,) = one(combo, "Deployment", f"{RELEASE}-{name}")["spec"]["template"]["spec"][
            "containers"
        ]
        assert {"secretRef": {"name": f"{RELEASE}-secrets"}} in container["envFrom"]
        assert "FLAGEVAL_METRICS_TOKEN" not in env_of(container)  # nothing overrides it
    given = _merge(EXTERNAL, {"secrets": {"metricsToken": "prometheus-scrape-token-0123456789"}})
    assert _secret_data(given)["FLAGEVAL_METRICS_TOKEN"] == "prometheus-scrape-token-0123456789"


def test_hpa_replaces_fixed_replicas_and_pdb_is_rendered() -> None:
    hpa = one("hpa", "HorizontalPodAutoscaler", f"{RELEASE}-gateway")
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 8
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert "replicas" not in one("hpa", "Deployment", f"{RELEASE}-gateway")["spec"]
    assert f"{RELEASE}-scheduler" not in {
        o["metadata"]["name"] for o in objects("hpa", "HorizontalPodAutoscaler")
    }
    assert one("hpa", "Deployment", f"{RELEASE}-scheduler")["spec"]["replicas"] == 1
    assert (
        one("hpa", "PodDisruptionBudget", f"{RELEASE}-eval-api")["spec"]["maxUnavailable"] == "50%"
    )
    assert not objects("defaults", "HorizontalPodAutoscaler")
    assert [p["metadata"]["name"] for p in objects("defaults", "PodDisruptionBudget")] == [
        f"{RELEASE}-gateway"
    ]


def test_ingress_routes_everything_to_the_gateway() -> None:
    assert not objects("defaults", "Ingress")
    ingress = one("ingress", "Ingress", RELEASE)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["flageval.example.org"], "secretName": "flageval-tls"}
    ]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "flageval.example.org"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["backend"]["service"] == {"name": f"{RELEASE}-gateway", "port": {"name": "http"}}


# ---- migrations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("combo", ["defaults", "existing-secret", "kueue"])
def test_migration_job_is_a_pre_install_pre_upgrade_hook(combo: str) -> None:
    job = one(combo, "Job", f"{RELEASE}-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-weight"] == "0"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["flageval", "migrate"]
    ref = env_of(container)["FLAGEVAL_DATABASE_URL"]["secretKeyRef"]
    # The release's Secret does not exist yet before the first install: the URL comes from a hook
    # Secret created earlier (lower weight), or from the operator's existing Secret.
    if combo == "existing-secret":
        assert ref["name"] == "flageval-prod"
    else:
        hook_secret = one(combo, "Secret", ref["name"])
        assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0


def test_migrations_with_in_cluster_postgres_run_after_the_database_exists() -> None:
    (job,) = objects("in-cluster", "Job")
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    # One Job per revision: a Job's pod template is immutable, so a fixed name could not be upgraded.
    assert job["metadata"]["name"] == f"{RELEASE}-migrate-1"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert env_of(container)["FLAGEVAL_DATABASE_URL"]["secretKeyRef"]["name"] == f"{RELEASE}-deps"


# ---- secrets ---------------------------------------------------------------------------------------


def test_existing_secret_replaces_the_chart_secret() -> None:
    assert not objects("existing-secret", "Secret")
    for name in SERVICES:
        (container,) = one("existing-secret", "Deployment", f"{RELEASE}-{name}")["spec"][
            "template"
        ]["spec"]["containers"]
        assert {"secretRef": {"name": "flageval-prod"}} in container["envFrom"]
    refs = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for _, spec in pod_specs("existing-secret")
        for c in spec["containers"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert refs and set(refs) == {"flageval-prod"}


def test_in_cluster_dependencies_are_wired_automatically() -> None:
    images = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in objects("in-cluster", "StatefulSet")
    }
    assert images == {
        f"{RELEASE}-postgresql": "postgres:15",
        f"{RELEASE}-rabbitmq": "rabbitmq:3.13-management",
        f"{RELEASE}-minio": "minio/minio:RELEASE.2024-12-18T13-15-44Z",
    }
    for name in ("postgresql", "rabbitmq", "minio"):
        one("in-cluster", "Service", f"{RELEASE}-{name}")
    deps = one("in-cluster", "Secret", f"{RELEASE}-deps")["stringData"]
    assert (
        deps["FLAGEVAL_DATABASE_URL"]
        == f"postgresql+asyncpg://flageval:{deps['POSTGRES_PASSWORD']}@{RELEASE}-postgresql:5432/flageval"
    )
    assert (
        deps["FLAGEVAL_BROKER_URL"]
        == f"amqp://flageval:{deps['RABBITMQ_DEFAULT_PASS']}@{RELEASE}-rabbitmq:5672/"
    )
    assert deps["FLAGEVAL_S3_SECRET_KEY"] == deps["MINIO_ROOT_PASSWORD"]
    assert (
        one("in-cluster", "ConfigMap", f"{RELEASE}-config")["data"]["FLAGEVAL_S3_ENDPOINT"]
        == f"http://{RELEASE}-minio:9000"
    )
    chart_secret = one("in-cluster", "Secret", f"{RELEASE}-secrets")["stringData"]
    assert "FLAGEVAL_DATABASE_URL" not in chart_secret and "FLAGEVAL_BROKER_URL" not in chart_secret
    (container,) = one("in-cluster", "Deployment", f"{RELEASE}-eval-api")["spec"]["template"][
        "spec"
    ]["containers"]
    env = env_of(container)
    for key in (
        "FLAGEVAL_DATABASE_URL",
        "FLAGEVAL_BROKER_URL",
        "FLAGEVAL_S3_ACCESS_KEY",
        "FLAGEVAL_S3_SECRET_KEY",
    ):
        assert env[key]["secretKeyRef"] == {"name": f"{RELEASE}-deps", "key": key}
    assert not objects("defaults", "StatefulSet")


# ---- RBAC ------------------------------------------------------------------------------------------

SCHEDULER_RULES = [
    {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["create", "get", "list", "watch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


@pytest.mark.parametrize("combo,eval_ns", [("defaults", NAMESPACE), ("kueue", "flageval-jobs")])
def test_scheduler_may_manage_jobs_and_read_logs_and_nothing_more(combo: str, eval_ns: str) -> None:
    (role,) = objects(combo, "Role")
    assert role["metadata"]["namespace"] == eval_ns
    assert role["rules"] == SCHEDULER_RULES
    flat = json.dumps(role["rules"])
    assert "*" not in flat
    (binding,) = objects(combo, "RoleBinding")
    assert binding["metadata"]["namespace"] == eval_ns
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-scheduler", "namespace": NAMESPACE}
    ]
    assert not objects(combo, "ClusterRole") and not objects(combo, "ClusterRoleBinding")


@pytest.mark.parametrize("combo", COMBINATIONS)
def test_only_the_scheduler_pod_gets_an_api_token(combo: str) -> None:
    accounts = {o["metadata"]["name"]: o for o in objects(combo, "ServiceAccount")}
    assert accounts[f"{RELEASE}-service"]["automountServiceAccountToken"] is False
    for where, spec in pod_specs(combo):
        if where == f"Deployment/{RELEASE}-scheduler":
            assert spec["serviceAccountName"] == f"{RELEASE}-scheduler"
        else:
            assert spec["automountServiceAccountToken"] is False, where
            assert spec.get("serviceAccountName", "default") != f"{RELEASE}-scheduler", where


# ---- priorities and Kueue --------------------------------------------------------------------------


@pytest.mark.parametrize("combo", ["defaults", "kueue"])
def test_priority_classes_and_scheduler_env(combo: str) -> None:
    classes = {o["metadata"]["name"]: o for o in objects(combo, "PriorityClass")}
    assert {n: (c["value"], c["preemptionPolicy"]) for n, c in classes.items()} == {
        f"{RELEASE}-high": (1000, "PreemptLowerPriority"),
        f"{RELEASE}-medium": (500, "PreemptLowerPriority"),
        f"{RELEASE}-low": (100, "Never"),
    }
    assert not any(c["globalDefault"] for c in classes.values())
    (scheduler,) = one(combo, "Deployment", f"{RELEASE}-scheduler")["spec"]["template"]["spec"][
        "containers"
    ]
    env = env_of(scheduler)
    for level in ("high", "medium", "low"):
        assert env[f"FLAGEVAL_PRIORITY_CLASS_{level.upper()}"] == f"{RELEASE}-{level}"
    assert env["FLAGEVAL_EVALUATION_NAMESPACE"] == (
        "flageval-jobs" if combo == "kueue" else NAMESPACE
    )
    assert json.loads(env["FLAGEVAL_CARD_TYPE_NODE_SELECTORS"])["a100-80g"] == {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"
    }
    assert ("FLAGEVAL_KUEUE_QUEUE" in env) == (combo == "kueue")


def test_kueue_objects_only_when_enabled() -> None:
    assert not [o for o in objects("defaults") if o["apiVersion"] == KUEUE_API]


def test_kueue_flavors_queues_and_workload_priorities() -> None:
    kueue = [o for o in objects("kueue") if o["apiVersion"] == KUEUE_API]
    assert {o["kind"] for o in kueue} == {
        "ResourceFlavor",
        "ClusterQueue",
        "LocalQueue",
        "WorkloadPriorityClass",
    }
    card_types = COMBINATIONS["kueue"]["cardTypes"]
    flavors = {o["metadata"]["name"]: o for o in objects("kueue", "ResourceFlavor")}
    assert set(flavors) == {f"{RELEASE}-{c['id']}" for c in card_types}
    for card in card_types:
        assert flavors[f"{RELEASE}-{card['id']}"]["spec"]["nodeLabels"] == card["nodeLabels"]

    (queue,) = objects("kueue", "ClusterQueue")
    (group,) = queue["spec"]["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    quotas = {
        f["name"]: {r["name"]: r["nominalQuota"] for r in f["resources"]} for f in group["flavors"]
    }
    assert quotas == {
        f"{RELEASE}-a100-80g": {"cpu": "128", "memory": "1Ti", "nvidia.com/gpu": 16},
        f"{RELEASE}-h100-80g": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": 8},
    }
    assert queue["spec"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "flageval-jobs"}
    }

    (local,) = objects("kueue", "LocalQueue")
    assert local["metadata"] == {
        **local["metadata"],
        "name": "flageval",
        "namespace": "flageval-jobs",
    }
    assert local["spec"] == {"clusterQueue": queue["metadata"]["name"]}

    priorities = {
        o["metadata"]["name"]: o["value"] for o in objects("kueue", "WorkloadPriorityClass")
    }
    assert priorities == {f"{RELEASE}-high": 1000, f"{RELEASE}-medium": 500, f"{RELEASE}-low": 100}

    (scheduler,) = one("kueue", "Deployment", f"{RELEASE}-scheduler")["spec"]["template"]["spec"][
        "containers"
    ]
    env = env_of(scheduler)
    assert env["FLAGEVAL_KUEUE_QUEUE"] == "flageval"
    assert env["FLAGEVAL_WORKLOAD_PRIORITY_CLASS_HIGH"] == f"{RELEASE}-high"


# ---- network policy --------------------------------------------------------------------------------

GATEWAY_PODS = {
    "app.kubernetes.io/name": "flageval",
    "app.kubernetes.io/instance": RELEASE,
    "app.kubernetes.io/component": "gateway",
}
DNS_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def _gateway_rule(namespace: str) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "podSelector": {"matchLabels": GATEWAY_PODS},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 8000}],
    }


@pytest.mark.parametrize("combo,eval_ns", [("defaults", NAMESPACE), ("kueue", "flageval-jobs")])
def test_evaluation_pods_reach_only_progress_dns_and_object_store(combo: str, eval_ns: str) -> None:
    (policy,) = objects(combo, "NetworkPolicy")
    assert policy["metadata"]["namespace"] == eval_ns
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"flageval.io/role": "evaluation"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == []  # deny all ingress
    assert spec["egress"] == [
        _gateway_rule(NAMESPACE),
        DNS_RULE,
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.10/32"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
    ]


def test_network_policy_with_in_cluster_minio() -> None:
    (policy,) = objects("in-cluster", "NetworkPolicy")
    minio = {**GATEWAY_PODS, "app.kubernetes.io/component": "minio"}
    assert policy["spec"]["egress"] == [
        _gateway_rule(NAMESPACE),
        DNS_RULE,
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}
                    },
                    "podSelector": {"matchLabels": minio},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9000}],
        },
    ]
