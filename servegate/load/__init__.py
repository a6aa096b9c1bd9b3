"""The load engine: profiles in, per-request records out.

Pure modules (shapes, pacer, sse, openai, prompts, tally, meta, runner, endpoint) import no
gevent and are safe anywhere. ``locustfile``, ``master`` and ``worker`` run only inside the
Locust processes that :mod:`servegate.load.runner` starts.
"""
