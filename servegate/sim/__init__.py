"""OpenAI-compatible model-server simulator standing in for vLLM (see docs/sim.md).

The public surface is small: :class:`SimSettings` (every knob) and :class:`SimProcess`
(run one in a child process on a free port). Both import no server code; the server itself
(``servegate.sim.server``) loads only in the process that serves.
"""

from __future__ import annotations

from servegate.sim.process import SimProcess
from servegate.sim.settings import SimSettings

__all__ = ["SimProcess", "SimSettings"]
