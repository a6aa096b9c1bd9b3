"""The teardown's dumps (events, pod states, logs) carry no value of the namespace's Secrets."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any, cast

from kubernetes.client.exceptions import ApiException

from servegate.k8s.client import Cluster
from servegate.k8s.deploy import collect, namespace_secrets
from servegate.redact import REDACTED

TOKEN = "hf_canaryTOKEN0123456789"
PEM = "-----BEGIN KEY-----\nMIIBsecretline1\nMIIBsecretline2\n-----END KEY-----\n"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class FakeCore:
    def __init__(self, secrets_readable: bool = True) -> None:
        self.secrets_readable = secrets_readable

    def list_namespaced_secret(self, namespace: str) -> Any:
        if not self.secrets_readable:
            raise ApiException(status=403, reason="Forbidden")
        data = {"token": _b64(TOKEN), "key.pem": _b64(PEM), "pin": _b64("1234")}
        return NS(items=[NS(data=data), NS(data=None)])

    def list_namespaced_event(self, namespace: str) -> Any:
        obj = NS(kind="Pod", name="vllm-0")
        event = NS(
            last_timestamp="t0",
            event_time=None,
            type="Warning",
            involved_object=obj,
            reason="Bad",
            message=f"token {TOKEN} refused; pin 1234",
        )
        return NS(items=[event])

    def list_namespaced_pod(self, namespace: str) -> Any:
        status = {"message": f"env HF_TOKEN={TOKEN}"}
        return NS(
            items=[
                NS(metadata=NS(name="vllm-0"), spec=NS(containers=[NS(name="vllm")]), status=status)
            ]
        )

    def read_namespaced_pod_log(self, name: str, namespace: str, **_kw: Any) -> str:
        return f"starting with HF_TOKEN={TOKEN}\nloaded MIIBsecretline2 from key.pem\n"


def _cluster(core: FakeCore) -> Cluster:
    return cast(Cluster, NS(core=core, api_client=NS(sanitize_for_serialization=lambda s: s)))


def test_secret_values_and_their_lines() -> None:
    values = namespace_secrets(FakeCore(), "ns")
    assert {TOKEN, PEM, "MIIBsecretline1", "MIIBsecretline2", "1234"} <= set(values)
    assert namespace_secrets(FakeCore(secrets_readable=False), "ns") == []


def test_dumps_show_redacted_where_a_secret_stood(tmp_path: Path) -> None:
    collect(_cluster(FakeCore()), "ns", tmp_path)
    events = (tmp_path / "events.txt").read_text()
    assert f"token {REDACTED} refused; pin 1234" in events  # too short to scrub: kept
    log = (tmp_path / "logs" / "vllm-0_vllm.log").read_text()
    assert log == f"starting with HF_TOKEN={REDACTED}\nloaded {REDACTED} from key.pem\n"
    assert TOKEN not in (tmp_path / "pods.json").read_text()
    assert REDACTED in (tmp_path / "pods.json").read_text()
    every = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN not in every and "MIIBsecret" not in every
