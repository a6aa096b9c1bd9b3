"""SG6xx: model storage and GPU tenancy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from servegate.lint.model import REGISTRY, Hit, K8sObject, Severity
from servegate.lint.workloads import (
    all_templates,
    as_dict,
    as_list,
    get,
    is_model_server,
    of_kind,
    pod_templates,
    same_namespace,
    template_gpus,
)


@REGISTRY.rule(
    "SG601",
    "statefulset-shared-rwx-cache",
    Severity.INFO,
    "https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes",
)
def shared_rwx(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A StatefulSet model server that mounts one ReadWriteMany PVC shared by all replicas.

    StatefulSets exist to give each replica its own volume (volumeClaimTemplates). A shared RWX
    claim needs a storage class that supports RWX (block classes such as SSD persistent disks do
    not, so the claim stays Pending), and replicas downloading into one Hugging Face cache race on
    the same files (Kubernetes docs 'Persistent Volumes: access modes').

    Fix: Use volumeClaimTemplates for a per-replica cache, or pre-load the weights once and mount
    the shared claim ReadOnlyMany (readOnly: true).
    """
    rwx = {
        (o.namespace or "default", o.name)
        for o in objects
        if o.kind == "PersistentVolumeClaim"
        and "ReadWriteMany" in as_list(get(o.doc, "spec", "accessModes"))
    }
    for obj in of_kind(objects, "StatefulSet"):
        for template in pod_templates(obj):
            claims = {
                str(v.get("name")): str(get(v, "persistentVolumeClaim", "claimName"))
                for v in as_list(template.spec.get("volumes"))
                if isinstance(v, dict)
            }
            for path, container in template.containers():
                if not is_model_server(template, container):
                    continue
                for index, mount in enumerate(as_list(container.get("volumeMounts"))):
                    if not isinstance(mount, dict) or mount.get("readOnly") is True:
                        continue
                    claim = claims.get(str(mount.get("name")))
                    if (obj.namespace or "default", claim) in rwx:
                        yield Hit(
                            obj,
                            f"replicas share the ReadWriteMany claim {claim!r} read-write at "
                            f"{mount.get('mountPath')}",
                            (*path, "volumeMounts", index),
                        )


@REGISTRY.rule(
    "SG602",
    "namespace-gpu-no-quota",
    Severity.WARNING,
    "https://kubernetes.io/docs/concepts/policy/resource-quotas/#resource-quota-for-extended-resources",
)
def gpu_quota(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """A Namespace in the linted set that runs GPU workloads but has no ResourceQuota on GPUs.

    Without a GPU quota one team's scale-up (or a runaway autoscaler) takes every GPU in the
    cluster; Kubernetes supports quotas on extended resources as requests.nvidia.com/gpu (Kubernetes
    docs 'Resource Quotas: extended resources').

    Fix: Add a ResourceQuota in the namespace with hard: {requests.nvidia.com/gpu: N}.
    """
    for ns in of_kind(objects, "Namespace"):
        if not ns.name:
            continue
        gpu_users = [
            t for t in all_templates(objects) if t.obj.namespace == ns.name and template_gpus(t) > 0
        ]
        if not gpu_users:
            continue
        quotas = [
            o
            for o in objects
            if o.kind == "ResourceQuota"
            and same_namespace(o, gpu_users[0].obj)
            and any("gpu" in str(k) for k in as_dict(get(o.doc, "spec", "hard")))
        ]
        if not quotas:
            yield Hit(
                ns,
                f"runs GPU workloads ({gpu_users[0].obj.ref}) without a GPU ResourceQuota",
                ("metadata", "name"),
            )


PRIORITY_EXPANDER = "cluster-autoscaler-priority-expander"


@REGISTRY.rule(
    "SG603",
    "priority-expander-namespace",
    Severity.WARNING,
    "https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/expander/priority/readme.md",
)
def priority_expander(objects: Sequence[K8sObject]) -> Iterator[Hit]:
    """The cluster-autoscaler-priority-expander ConfigMap outside kube-system.

    The cluster autoscaler reads its priority list only from a ConfigMap of exactly this name in its
    own namespace (kube-system by default) and only with --expander=priority; elsewhere it is
    ignored and GPU node groups are picked at random (cluster-autoscaler 'Priority based expander'
    docs). Managed autoscalers (GKE, for one) do not read it at all.

    Fix: Create it in the autoscaler's namespace (metadata.namespace: kube-system) and run the
    autoscaler with --expander=priority.
    """
    for obj in of_kind(objects, "ConfigMap"):
        if obj.name == PRIORITY_EXPANDER and obj.namespace != "kube-system":
            where = obj.namespace or "the current namespace"
            yield Hit(obj, f"is in {where}, not kube-system", ("metadata",))
