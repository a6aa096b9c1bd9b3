"""The autoscaling checks' library: the test variants of the reference autoscalers and the
steps that drive and judge them (suites/autoscaling, docs/suites-autoscaling*.md).

``hpa`` turns vllm-deployment into the HPA checks' variant and runs the ramp they measure;
``scaledobject`` is the KEDA checks' variant of the reference ScaledObjects (pure functions);
``keda`` is what they ask the cluster (addresses, the ScaledObject, the autoscaler's own
account of itself); ``scenarios`` sets up and tears down each KEDA check; ``fixtures`` hands
them to the suites.
"""
