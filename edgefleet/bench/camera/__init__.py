"""`edgefleet bench camera`: what a camera costs the agent, and what it finds (docs/benchmarks.md).

A real `edgefleet agent` process reads an HTTP MJPEG stream that ffmpeg serves on loopback
(`edgefleet.procs.camera`), through Mosquitto (or amqtt when it is not installed):

1. `still`: one scene, the same JPEG every frame: motion gating should leave the model idle;
2. `moving`: a new scene every frame: every frame looked at goes to the model.

Each runs for `--seconds` after a warm-up; the agent's CPU time (psutil, user + system) over
that window gives its CPU share, and its heartbeat the frames read and inferred. Then
`accuracy`: `--scenes` labelled scenes (faces at known boxes, `models.datasets.faces`), each
held for two frames, played once; a scene counts as found when a result's boxes hit every face
at IoU >= 0.5 (`edgefleet.bench.camera.scoring`).

Modules: `config`; `scoring`; `run` measures, checks the targets and reports.
"""

from edgefleet.bench.camera.config import CameraBenchConfig
from edgefleet.bench.camera.run import run_camera_bench

__all__ = ["CameraBenchConfig", "run_camera_bench"]
