"""servegate's Ray Serve application: the simulator served by Ray Serve replicas.

:mod:`.backend` runs one simulator per replica and relays requests to it (no Ray import, so it
is tested on its own); :mod:`.app` is the Ray Serve deployment and the application builder
that the ray-serve unit's sim overlay names in its serveConfigV2. Only the Ray image
(servegate.local/ray) imports :mod:`.app`.
"""

PLACEMENT_PATH = "/-/servegate/placement"
"""Under each application's route prefix: where Ray placed the replica that answers."""
