"""Clusters to test against: the embedded local one, an existing one, or kind.

Public entry points: :func:`servegate.cluster.providers.provider` (by kind) and
:class:`servegate.cluster.local.LocalCluster`. Importing this package starts nothing.
"""
