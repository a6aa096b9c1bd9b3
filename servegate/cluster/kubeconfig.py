"""Kubeconfig files for the local cluster, with certificates embedded so they can be copied."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from servegate.cluster.pki import CertPair


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render(server: str, ca: Path, user: CertPair, context: str, user_name: str) -> dict[str, Any]:
    """A single-context kubeconfig."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}
        ],
        "users": [
            {
                "name": user_name,
                "user": {
                    "client-certificate-data": _b64(user.cert),
                    "client-key-data": _b64(user.key),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user_name}}],
        "current-context": context,
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    """Write with mode 0600: it holds a private key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
