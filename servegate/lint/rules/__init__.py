"""The rule modules; importing this package registers every rule in ``REGISTRY``.

Ids are grouped by hundreds: SG1xx GPUs and resources, SG2xx images and probes, SG3xx
autoscaling and disruption budgets, SG4xx networking, SG5xx API versions and schemas, SG6xx
storage and tenancy.
"""

from servegate.lint.rules import api, gpu, hygiene, network, objects, scaling, serving, tenancy

__all__ = ["api", "gpu", "hygiene", "network", "objects", "scaling", "serving", "tenancy"]
