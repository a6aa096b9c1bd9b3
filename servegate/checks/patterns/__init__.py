"""The pattern benchmarks' library: deploying a serving pattern and measuring what it costs.

``figures`` holds the pure figures (cost, GPU utilisation, RAG stages, cold-start spreads)
and ``trust`` the checks every benchmark run must pass before its figures count; ``env``,
``storage`` and ``coldstart`` talk to the cluster; ``report`` writes the session index's
per-pattern section and ``fixtures`` hands it to the suites (suites/benchmark/).
"""
