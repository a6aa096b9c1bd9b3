"""The HPA checks' simulator knobs on the other overlays' servers: llm-d-inference-sim's
and llama-server's flags for them, what a server has no flag for (a check that cannot be
deployed there says why), and the queue metric each server's HPA scales on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from servegate.errors import UserError

Obj = dict[str, Any]

#: The simulator knobs the HPA checks set, as llm-d-inference-sim's flags (``--sg-overlay
#: llmd``): sequences decoded at once, and the time between two tokens of a sequence (the
#: simulator's decode step, which with this few sequences is its per-token time).
LLMD_FLAGS: dict[str, Callable[[str], str]] = {
    "SERVEGATE_SIM_MAX_NUM_SEQS": lambda v: f"--max-num-seqs={int(v)}",
    "SERVEGATE_SIM_DECODE_BASE_S": lambda v: f"--inter-token-latency={float(v) * 1000:g}ms",
}
#: The simulator knobs as llama-server's flags (``--sg-overlay engine``; its parser takes a
#: flag and its value as two items, never ``--flag=value``): sequences decoded at once are
#: its slots.
ENGINE_FLAGS: dict[str, Callable[[str], list[str]]] = {
    "SERVEGATE_SIM_MAX_NUM_SEQS": lambda v: ["--parallel", str(int(v))],
}
#: Knobs llama-server has no flag for because what they set is its real compute: the decode
#: step's time is what the tiny model costs on the pod's CPUs (and whatever else runs there).
ENGINE_REAL_COMPUTE = frozenset({"SERVEGATE_SIM_DECODE_BASE_S"})
#: The components whose metric llama-server serves: the queue-depth HPA, on
#: ``llamacpp_requests_deferred`` (:data:`QUEUE_METRICS`).
ENGINE_COMPONENTS = frozenset({"hpa-queue-depth"})
#: The per-pod queue metric the custom metrics API serves for each overlay's model server
#: (prometheus-adapter's rules, servegate/cluster/addons/prometheus_adapter.py): vLLM's
#: requests waiting, or llama-server's requests deferred for want of a free slot.
VLLM_QUEUE_METRIC = "vllm_num_requests_waiting"
QUEUE_METRICS = {"engine": "llamacpp_requests_deferred"}

NOT_CPU_ON_ENGINE = (
    "not on the engine overlay: the CPU check's request (50m) and target are sized for the "
    "simulator's per-token CPU cost, set through SERVEGATE_SIM_DECODE_BASE_S; llama-server's "
    "decode is real compute that takes the node's cores under any load, so crossing the "
    "target would prove nothing (docs/engine.md)"
)
KEEP_ALIVE_NOT_ON_ENGINE = (
    "not on the engine overlay: llama-server closes every streamed response's connection "
    "(announcing keep-alive), so no client keeps its connection to the first replica; the "
    "churn variant, a new connection per request, is what this server gives (docs/engine.md)"
)


def unflagged(overlay: str, sim_env: dict[str, str]) -> list[str]:
    """The knobs of ``sim_env`` the overlay's server has no equivalent of, sorted (none on
    the simulator; on ``engine`` the decode time is no gap: it is the engine's compute)."""
    if overlay == "llmd":
        return sorted(set(sim_env) - set(LLMD_FLAGS))
    if overlay == "engine":
        return sorted(set(sim_env) - set(ENGINE_FLAGS) - ENGINE_REAL_COMPUTE)
    return []


def not_served(overlay: str, component: str, sim_env: dict[str, str]) -> str | None:
    """Why the variant with ``component``'s HPA and the knobs ``sim_env`` cannot be deployed
    on ``overlay``, or None (the ``hpa`` fixture skips the check with this reason)."""
    if overlay == "engine" and component not in ENGINE_COMPONENTS:
        return (
            NOT_CPU_ON_ENGINE
            if component == "hpa-cpu"
            else (f"not on the engine overlay: llama-server serves no metric for {component}")
        )
    missing = unflagged(overlay, sim_env)
    if not missing:
        return None
    server = {"llmd": "llm-d-inference-sim", "engine": "llama-server"}[overlay]
    kind = "knob" if len(missing) == 1 else "knobs"
    return (
        f"not on the {overlay} overlay: this check sets {', '.join(missing)}, a simulator"
        f" {kind} {server} has no flag for"
    )


def llmd_args(args: list[str], sim_env: dict[str, str]) -> list[str]:
    """llm-d-inference-sim's ``--name=value`` args with the knobs of ``sim_env`` in place of
    the overlay's values; a knob it has no flag for is a one-line error."""
    missing = unflagged("llmd", sim_env)
    if missing:
        raise UserError(f"llm-d-inference-sim has no flag for {', '.join(missing)}")
    new = [LLMD_FLAGS[k](v) for k, v in sim_env.items()]
    names = {f.split("=", 1)[0] for f in new}
    return [a for a in args if a.split("=", 1)[0] not in names] + new


def engine_args(args: list[str], sim_env: dict[str, str]) -> list[str]:
    """llama-server's args (``--flag value`` pairs) with the knobs of ``sim_env`` that have a
    flag (:data:`ENGINE_FLAGS`) in place of the overlay's values; the decode-time knob is the
    engine's compute and sets nothing; any other knob is a one-line error."""
    missing = unflagged("engine", sim_env)
    if missing:
        raise UserError(f"llama-server has no flag for {', '.join(missing)}")
    out = list(args)
    for knob, value in sim_env.items():
        if knob not in ENGINE_FLAGS:
            continue
        flag, *new = ENGINE_FLAGS[knob](value)
        if flag in out:
            i = out.index(flag)
            out[i + 1 : i + 1 + len(new)] = new
        else:
            out += [flag, *new]
    return out


def queue_metric_for(overlay: str, hpa: Obj) -> Obj:
    """``hpa`` with its per-pod vLLM queue metric (:data:`VLLM_QUEUE_METRIC`) renamed to the
    overlay's server's (:data:`QUEUE_METRICS`), target unchanged; as it was elsewhere."""
    name = QUEUE_METRICS.get(overlay)
    if name is None:
        return hpa
    out = copy.deepcopy(hpa)
    for m in out["spec"].get("metrics") or []:
        metric = (m.get("pods") or {}).get("metric") or {}
        if m.get("type") == "Pods" and metric.get("name") == VLLM_QUEUE_METRIC:
            metric["name"] = name
    return out
