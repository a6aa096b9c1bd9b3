"""GPU allocation and placement checks (suites/conformance/gpu, docs/suites-gpu.md).

``model`` reads GPU nodes and pods from API objects, ``objects`` builds the Setup objects,
``assess`` holds the pure Assess functions, ``namespace`` and ``setup`` do Setup and Teardown
on a live cluster, ``report`` records the bin-packing figures, and ``fixtures`` holds the
pytest fixtures the suite's conftest re-exports.
"""
