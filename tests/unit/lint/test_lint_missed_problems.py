"""The problems lint used to miss (issue 15): service-link collisions, duplicate keys and
objects, credentials in command lines and ConfigMaps, non-base64 Secret data, invalid names,
moving tags, KEDA queries that return one series per pod."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.lint import lint_paths
from servegate.lint.loader import LoadedObject, load_paths
from servegate.lint.rules.hygiene import literal_secret, moving_tag
from servegate.lint.rules.objects import is_base64
from servegate.lint.rules.scaling import ONE, UNKNOWN, query_series

NEW_RULES = {"SG206", "SG207", "SG208", "SG309", "SG405", "SG505", "SG506", "SG507", "SG508"}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
{pod}      containers:
        - name: server
          image: {image}
{container}"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
{spec}  selector: {{app: vllm}}
  ports:
    - name: http
      port: 8000
"""


def deployment(
    name: str = "vllm",
    image: str = "vllm/vllm-openai:v0.11.0",
    pod: str = "",
    container: str = "",
) -> str:
    return DEPLOYMENT.format(name=name, image=image, pod=pod, container=container)


def found(text: str, rules: set[str] = NEW_RULES) -> list[tuple[str, str]]:
    """(rule, message) of the findings of ``rules`` on ``text`` read from stdin."""
    result = lint_paths(["-"], stdin_text=text)
    assert result.errors == []
    return [(f.rule_id, f.message) for f in result.findings if f.rule_id in rules]


def ids(text: str) -> set[str]:
    return {rule for rule, _ in found(text)}


# -- SG405 service links ---------------------------------------------------------------------


def test_service_named_vllm_collides_with_vllm_port() -> None:
    text = deployment() + "---\n" + SERVICE.format(name="vllm", spec="")
    ((rule, message),) = found(text)
    assert rule == "SG405" and "VLLM_PORT" in message and "Deployment/vllm" in message


@pytest.mark.parametrize(
    ("service", "spec", "pod", "container", "image"),
    [
        ("vllm-api", "", "", "", "vllm/vllm-openai:v0.11.0"),  # VLLM_API_PORT: not read
        ("vllm", "  clusterIP: None\n", "", "", "vllm/vllm-openai:v0.11.0"),  # headless: no vars
        ("vllm", "", "      enableServiceLinks: false\n", "", "vllm/vllm-openai:v0.11.0"),
        (
            "vllm",
            "",
            "",
            "          env:\n            - {name: VLLM_PORT, value: '8004'}\n",
            "vllm/vllm-openai:v0.11.0",
        ),
        ("vllm", "", "", "", "lmcache/lmstack-router:v0.1.0"),  # a router reads no VLLM_PORT
    ],
)
def test_service_link_exemptions(
    service: str, spec: str, pod: str, container: str, image: str
) -> None:
    text = deployment(image=image, pod=pod, container=container)
    assert ids(text + "---\n" + SERVICE.format(name=service, spec=spec)) == set()


def test_service_in_another_namespace_does_not_collide() -> None:
    text = deployment() + "---\n" + SERVICE.format(name="vllm", spec="")
    other = text.replace(
        "  name: vllm\nspec:\n  selector", "  name: vllm\n  namespace: b\nspec:\n  selector"
    )
    assert ids(other) == set()


def test_tgi_reads_prometheus_port() -> None:
    text = deployment(image="ghcr.io/huggingface/text-generation-inference:3.3.4")
    assert ids(text + "---\n" + SERVICE.format(name="prometheus", spec="")) == {"SG405"}


def test_kuberay_head_service_named_vllm() -> None:
    text = """\
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: llm, namespace: vllm}
spec:
  headGroupSpec:
    headService:
      metadata: {name: vllm, namespace: vllm}
    template:
      spec:
        containers:
          - {name: head, image: "vllm/vllm-openai:v0.11.0"}
"""
    ((rule, message),) = found(text, {"SG405"})
    assert rule == "SG405" and "Service 'vllm'" in message


# -- SG505 / SG506 duplicates ----------------------------------------------------------------


def test_loader_records_duplicate_keys_and_ignores_merge_keys() -> None:
    text = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: a}
    base: &base {x: "1"}
    data:
      <<: *base
      y: "2"
      y: "3"
"""
    (unit,) = load_paths(["-"], stdin_text=text).sets
    (obj,) = unit.objects
    assert isinstance(obj, LoadedObject)
    assert obj.duplicate_keys == [(("data", "y"), 10, 11)]
    assert obj.doc["data"]["y"] == "3"  # what PyYAML silently kept


def test_duplicate_key_points_at_both_lines() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"
    assert found(text) == [
        (
            "SG505",
            "key 'metadata.name' is given twice (lines 4 and 5); kubectl refuses the file, "
            "other parsers keep only the last value",
        )
    ]


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n{ns}data:\n  k: {value}\n"


def test_duplicate_objects_in_one_file_but_not_identical_copies() -> None:
    one = CONFIGMAP.format(ns="", value="a")
    assert ids(one + "---\n" + CONFIGMAP.format(ns="", value="b")) == {"SG506"}
    assert ids(one + "---\n" + one) == set()
    other_namespace = CONFIGMAP.format(ns="  namespace: x\n", value="b")
    assert ids(one + "---\n" + other_namespace) == set()


def lint_files(tmp_path: Path, files: dict[str, str]) -> set[str]:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = lint_paths([str(tmp_path)])
    assert result.errors == []
    return {f.rule_id for f in result.findings if f.rule_id in NEW_RULES}


def test_duplicate_objects_across_files_of_one_deployment(tmp_path: Path) -> None:
    files = {
        "config.yaml": CONFIGMAP.format(ns="", value="a"),
        "app.yaml": CONFIGMAP.format(ns="", value="b") + "---\n" + deployment(name="app"),
    }
    assert lint_files(tmp_path, files) == {"SG506"}


def test_variant_files_and_sibling_apps_are_not_paired(tmp_path: Path) -> None:
    """gpu.yaml and sim.yaml define the same workload: alternatives, never applied together.
    Files in sibling directories without a namespace are separate apps."""
    service = "---\n" + SERVICE.format(name="vllm", spec="")
    files = {
        "golden/gpu.yaml": deployment() + "---\n" + CONFIGMAP.format(ns="", value="gpu"),
        "golden/sim.yaml": deployment(image="example/sim:1") + service,
        "one/config.yaml": CONFIGMAP.format(ns="", value="one"),
        "two/config.yaml": CONFIGMAP.format(ns="", value="two"),
    }
    assert lint_files(tmp_path, files) == set()


# -- SG507 Secret data -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("YQ==", True), ("YWJj", True), ("YWJjZA==\n", True), ("abc", False),
     ("plain text", False), ("YQ", False), ("a_b-", False)],
)  # fmt: skip
def test_base64_as_the_api_server_decodes_it(value: str, ok: bool) -> None:
    assert is_base64(value) is ok


def test_secret_data_placeholders_and_string_data_are_not_reported() -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n{body}"
    assert ids(secret.format(body="data:\n  token: not base64!\n")) == {"SG507"}
    assert ids(secret.format(body="data:\n  token: 1234\n")) == {"SG507"}
    assert ids(secret.format(body="data:\n  token: <base64-encoded-token>\n")) == set()
    assert ids(secret.format(body="stringData:\n  token: not base64!\n")) == set()


# -- SG508 names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: llm.server}\n", True),
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: llm.server}\n", False),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: 7b-api}\n", True),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Model_Config}\n", True),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: ML}\n", True),
        (f"apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: {'a' * 53}}}\n", True),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
            "metadata: {name: 'system:llm'}\n",
            False,
        ),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '${APP}-config'}\n", False),
    ],
)
def test_object_names_follow_their_kind(text: str, bad: bool) -> None:
    assert ("SG508" in ids(text)) is bad


def test_container_volume_and_port_names() -> None:
    container = (
        "          ports:\n            - {name: metrics-endpoint-http, containerPort: 9090}\n"
        "          volumeMounts:\n            - {name: Cache, mountPath: /cache}\n"
    )
    pod = "      volumes:\n        - {name: Cache, emptyDir: {}}\n"
    messages = [m for r, m in found(deployment(pod=pod, container=container)) if r == "SG508"]
    assert sorted(m.split(" name ")[0] for m in messages) == ["container port", "volume"]


# -- SG206 moving tags -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("vllm/vllm-openai:nightly", "nightly"),
        ("ghcr.io/llm-d/llm-d-cuda-dev:pr-429", "pr-429"),
        ("lmsysorg/sglang:latest-cu126", "latest-cu126"),
        ("registry.local:5000/team/server:main", "main"),
        ("vllm/vllm-openai:nightly-4d5b6e7f8a9b0c1d2e3f", None),
        ("example/server:main-2025-01-31", None),
        ("example/server:main@sha256:" + "0" * 64, None),
        ("vllm/vllm-openai:latest", None),  # SG201's
        ("vllm/vllm-openai", None),  # SG201's
        ("vllm/vllm-openai:v0.11.0", None),
        ("example/stable-diffusion:1.0", None),
    ],
)
def test_moving_tags(image: str, tag: str | None) -> None:
    assert moving_tag(image) == tag


# -- SG207 / SG208 credentials ---------------------------------------------------------------

# Built at run time so that no token-shaped string sits in the repository.
HF_TOKEN = "hf_" + "aB3" * 12
OPENAI_KEY = "sk-" + "Zx9" * 10


@pytest.mark.parametrize(
    ("args", "hit"),
    [
        (["--api-key", "7c1e5a9d3b0f4e2a8c6d"], True),
        (["--hf-token=f00dcafe1234abcd"], True),
        (["sh", "-c", f"huggingface-cli download m --token {HF_TOKEN}"], True),
        (["sh", "-c", "HF_TOKEN=f00dcafe1234abcd python serve.py"], True),
        ([f"OPENAI_API_KEY={OPENAI_KEY}"], True),
        (["--api-key", "$(VLLM_API_KEY)"], False),
        (["sh", "-c", "vllm serve m --api-key $VLLM_API_KEY"], False),
        (["--api-key", "EMPTY"], False),
        (["--api-key", "<your-api-key>"], False),
        (["--max-num-batched-tokens", "8192"], False),
        (["--hf-token-file", "/var/run/hf/token"], False),
        (["--api-key", "--port", "8000"], False),
    ],
)
def test_credentials_in_command_lines(args: list[str], hit: bool) -> None:
    container = "          args: [" + ", ".join(f"'{a}'" for a in args) + "]\n"
    assert ("SG207" in ids(deployment(container=container))) is hit


def test_a_flag_and_its_value_are_one_finding() -> None:
    container = f"          args: ['--api-key', '{OPENAI_KEY}']\n"
    assert [r for r, _ in found(deployment(container=container))] == ["SG207"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("f00dcafe1234abcd", True), (HF_TOKEN, True), ("EMPTY", False), ("", False),
     ("hf-token-secret", False), ("30", False), ("true", False), ("xxxxxxxx", False)],
)  # fmt: skip
def test_literal_secret(value: str, expected: bool) -> None:
    assert literal_secret(value) is expected


CREDENTIAL_CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: env
data:
  HF_TOKEN: f00dcafe1234abcd
  token: f00dcafe1234abcd
  MAX_TOKEN: "4096"
---
"""


def test_configmap_credentials_only_when_loaded_as_environment() -> None:
    assert ids(CREDENTIAL_CM + deployment()) == set()
    env_from = "          envFrom:\n            - configMapRef: {name: env}\n"
    messages = [m for r, m in found(CREDENTIAL_CM + deployment(container=env_from))]
    assert [m.split()[0] for m in messages] == ["data.HF_TOKEN", "data.token"]
    key_ref = (
        "          env:\n            - name: HUGGING_FACE_HUB_TOKEN\n"
        "              valueFrom: {configMapKeyRef: {name: env, key: token}}\n"
    )
    messages = [m for r, m in found(CREDENTIAL_CM + deployment(container=key_ref))]
    assert [m.split()[0] for m in messages] == ["data.token"]


# -- SG309 KEDA queries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        ('sum(vllm:num_requests_waiting{model_name="m"})', ONE),
        ("avg(vllm:gpu_cache_usage_perc) * 100", ONE),
        ("sum(rate(a[1m])) / sum(rate(b[1m]))", ONE),
        ("histogram_quantile(0.9, sum by (le) (rate(x_bucket[2m])))", ONE),
        ("topk(1, a)", ONE),
        ("sum(a) > 0 or vector(0)", ONE),
        ("vllm:num_requests_waiting", "one series per scraped pod or target"),
        ("rate(a[5m]) * 60", "one series per scraped pod or target"),
        ("sum by (pod) (vllm:num_requests_waiting)", "one series per pod"),
        ("avg(a) by (instance)", "one series per instance"),
        ("histogram_quantile(0.9, sum(rate(x_bucket[2m])) by (le, pod))", "one series per pod"),
        ("topk(3, a)", "up to 3 series"),
        ("sum(a) by (model_name)", UNKNOWN),
        ("sum without (pod) (a)", UNKNOWN),
        ("sum(a) / b", UNKNOWN),
        ('sum(a{x="("}) by (pod)', "one series per pod"),  # a bracket inside a string
        ("sum(rate(a[5m:1m]))", ONE),  # a subquery
        ("-sum(a)", ONE),
        ("bottomk(2, sum by (pod) (a))", "up to 2 series"),
        ("sum(", UNKNOWN),  # not PromQL: the parser's error, no finding
    ],
)
def test_query_series(query: str, verdict: str) -> None:
    assert query_series(query).startswith(verdict)


def test_keda_trigger_finding_points_at_the_query() -> None:
    text = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata: {name: batch}
spec:
  triggers:
    - type: prometheus
      metadata: {query: "sum(queue_depth) by (pod)", threshold: "5"}
    - type: prometheus
      metadata: {query: "sum(queue_depth)", threshold: "5"}
"""
    result = lint_paths(["-"], stdin_text=text)
    (finding,) = [f for f in result.findings if f.rule_id == "SG309"]
    assert finding.path == "spec.triggers[0].metadata.query" and finding.line == 7
