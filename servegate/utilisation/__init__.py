"""The utilisation study: a simulated day of demand served by static and by autoscaled GPUs.

:mod:`.capacity` measures one replica on the simulator's batching engine, :mod:`.trace` draws
the day's demand, :mod:`.policy` is the HPA-like autoscaler, :mod:`.serve` steps the day
minute by minute for each allocation, and :mod:`.study` prices both and judges the seed's
utilisation claim. Everything runs in-process on a fake clock; no cluster is involved.
"""
