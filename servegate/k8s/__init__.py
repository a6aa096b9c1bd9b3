"""Kubernetes side of servegate: render manifest units with kustomize and validate them.

The public surface is :func:`servegate.k8s.render.render_unit` and
:func:`servegate.k8s.validate.validate_objects`; both work without a cluster.
"""
