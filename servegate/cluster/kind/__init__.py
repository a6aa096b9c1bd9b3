"""kind clusters made by servegate: a Docker host it can start, and an offline node image.

See docs/kind.md. ``providers.KindProvider`` drives kind through pytest-kind; this package
supplies what kind needs on a machine without registry access: a dockerd servegate starts
and stops itself (``dockerhost``), the node image assembled from Debian packages and the
project's own Kubernetes build (``nodeimage``), and the cluster's configuration (``config``).
"""
