"""The chart's values, typed (Dagster's chart does the same): the source of `flageval/values.schema.json`.

Regenerate after changing a model: `.venv/bin/python deploy/helm/values_schema.py`. A chart test fails
when the committed schema differs from what these models produce. Every object forbids unknown keys,
so a typo in a values file fails `helm lint` / `helm install` instead of being silently ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_PATH = Path(__file__).parent / "flageval" / "values.schema.json"

Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$")]
DnsLabel = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
Priority = Annotated[int, Field(ge=0, le=1_000_000_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Image(Strict):
    repository: str = ""
    tag: str = ""


class GlobalImage(Strict):
    repository: str = "flageval"
    tag: str = ""
    pullPolicy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


class Global(Strict):
    image: GlobalImage = GlobalImage()
    imagePullSecrets: list[dict[str, str]] = []


class Storage(Strict):
    bucket: DnsLabel = "flageval"
    endpoint: str = Field("", pattern=r"^(https?://.+)?$")
    region: str = "us-east-1"


class Config(Strict):
    publicUrl: str = Field("http://flageval.local", pattern=r"^https?://.+")
    timezone: str = "Asia/Shanghai"
    adminEmail: str = Field("admin@flageval.local", pattern=r"^[^@\s]+@[^@\s]+$")
    logLevel: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    logJson: bool = True
    storage: Storage = Storage()
    extraEnv: dict[Annotated[str, Field(pattern=r"^FLAGEVAL_[A-Z0-9_]+$")], str] = Field(
        {}, json_schema_extra={"additionalProperties": False}
    )


class Secrets(Strict):
    existingSecret: str = ""
    databaseUrl: str = Field("", pattern=r"^((postgresql\+asyncpg|sqlite\+aiosqlite)://.+)?$")
    brokerUrl: str = Field("", pattern=r"^(amqps?://.+)?$")
    s3AccessKey: str = ""
    s3SecretKey: str = ""
    smtpUrl: str = Field("", pattern=r"^(smtps?://.+)?$")
    secretKey: str = ""
    adminPassword: str = ""
    # Sent as `Authorization: Bearer <token>`: printable ASCII without spaces.
    metricsToken: str = Field("", pattern=r"^[!-~]*$")


class ResourceList(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    cpu: Quantity | int | None = None
    memory: Quantity | int | None = None
    ephemeral_storage: Quantity | int | None = Field(None, alias="ephemeral-storage")


class Resources(Strict):
    requests: ResourceList = ResourceList()
    limits: ResourceList = ResourceList()


class Autoscaling(Strict):
    enabled: bool = False
    minReplicas: int = Field(2, ge=1)
    maxReplicas: int = Field(5, ge=1)
    targetCPU: int = Field(75, ge=1, le=100)


class PodDisruptionBudget(Strict):
    enabled: bool = False
    maxUnavailable: int | Annotated[str, Field(pattern=r"^[0-9]+%$")] = 1


class ServiceDefaults(Strict):
    replicas: int = Field(1, ge=0)
    resources: Resources = Resources()
    autoscaling: Autoscaling = Autoscaling()
    podDisruptionBudget: PodDisruptionBudget = PodDisruptionBudget()
    nodeSelector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []


class Service(Strict):
    """One platform service; unset fields come from serviceDefaults."""

    enabled: bool = True
    image: Image = Image()
    replicas: int = Field(1, ge=0)
    resources: Resources = Resources()
    autoscaling: Autoscaling = Autoscaling()
    podDisruptionBudget: PodDisruptionBudget = PodDisruptionBudget()
    nodeSelector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []
    env: dict[str, str] = {}


class Services(Strict):
    """The platform's services (SPEC §1); the runner is not one (it runs inside evaluation Jobs)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    gateway: Service = Service()
    eval_api: Service = Field(Service(), alias="eval-api")
    scheduler: Service = Service()
    upload: Service = Service()
    image_registry: Service = Field(Service(), alias="image-registry")
    leaderboard: Service = Service()
    notifier: Service = Service()


class TlsConfig(Strict):
    enabled: bool = False
    secretName: str = ""


class Ingress(Strict):
    enabled: bool = False
    className: str = ""
    host: str = "flageval.local"
    annotations: dict[str, str] = {}
    tls: TlsConfig = TlsConfig()


class Migrations(Strict):
    enabled: bool = True
    backoffLimit: int = Field(6, ge=0)
    activeDeadlineSeconds: int = Field(600, ge=1)


class ObjectStoreEgress(Strict):
    cidrs: list[Annotated[str, Field(pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")]] = []
    port: int = Field(443, ge=1, le=65535)


class DnsEgress(Strict):
    namespace: str = "kube-system"
    podLabels: dict[str, str] = {"k8s-app": "kube-dns"}


class EvaluationNetworkPolicy(Strict):
    enabled: bool = True
    objectStore: ObjectStoreEgress = ObjectStoreEgress()
    dns: DnsEgress = DnsEgress()


class Evaluation(Strict):
    namespace: DnsLabel | Literal[""] = ""
    runnerImage: str = ""
    networkPolicy: EvaluationNetworkPolicy = EvaluationNetworkPolicy()


class CardType(Strict):
    """A GPU node pool: the nodes' labels and the Kueue quota of the pool."""

    id: DnsLabel
    nodeLabels: dict[str, str] = Field(min_length=1)
    gpus: int = Field(ge=1)
    cpu: Quantity = "64"
    memory: Quantity = "512Gi"
    tolerations: list[dict[str, Any]] = []


class PriorityLevel(Strict):
    value: Priority
    preemptionPolicy: Literal["PreemptLowerPriority", "Never"] = "PreemptLowerPriority"


class PriorityClasses(Strict):
    high: PriorityLevel = PriorityLevel(value=1000)
    medium: PriorityLevel = PriorityLevel(value=500)
    low: PriorityLevel = PriorityLevel(value=100, preemptionPolicy="Never")


class ClusterQueue(Strict):
    name: str = ""
    cohort: str = ""
    queueingStrategy: Literal["BestEffortFIFO", "StrictFIFO"] = "BestEffortFIFO"


class LocalQueue(Strict):
    name: DnsLabel = "flageval"


class Kueue(Strict):
    enabled: bool = False
    clusterQueue: ClusterQueue = ClusterQueue()
    localQueue: LocalQueue = LocalQueue()


class Persistence(Strict):
    size: Quantity = "10Gi"
    storageClass: str = ""


class PostgreSQL(Strict):
    enabled: bool = False
    image: str = "postgres:15"
    database: str = "flageval"
    username: str = "flageval"
    password: str = ""
    persistence: Persistence = Persistence()


class RabbitMQ(Strict):
    enabled: bool = False
    image: str = "rabbitmq:3.13-management"
    username: str = "flageval"
    password: str = ""
    persistence: Persistence = Persistence()


class MinIO(Strict):
    enabled: bool = False
    image: str = "minio/minio:RELEASE.2024-12-18T13-15-44Z"
    rootUser: str = "flageval"
    rootPassword: str = ""
    persistence: Persistence = Persistence()


class Values(Strict):
    global_: Global = Field(Global(), alias="global")
    config: Config = Config()
    secrets: Secrets = Secrets()
    serviceDefaults: ServiceDefaults = ServiceDefaults()
    services: Services = Services()
    ingress: Ingress = Ingress()
    migrations: Migrations = Migrations()
    evaluation: Evaluation = Evaluation()
    cardTypes: list[CardType] = []
    priorityClasses: PriorityClasses = PriorityClasses()
    kueue: Kueue = Kueue()
    postgresql: PostgreSQL = PostgreSQL()
    rabbitmq: RabbitMQ = RabbitMQ()
    minio: MinIO = MinIO()


def _strip(node: Any) -> Any:
    """Drop pydantic's `default`/`title` noise; Helm validates the merged values, defaults live in values.yaml."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("default", "title")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def schema() -> dict[str, Any]:
    generated = _strip(Values.model_json_schema(by_alias=True))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **generated}


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render())
    print(f"wrote {SCHEMA_PATH}")
