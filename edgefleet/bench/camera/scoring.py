"""Which labelled scenes a camera's results found, in the order the results arrived."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from edgefleet.bench.offload.scoring import match_faces
from models.datasets.faces import FaceSample

LOOKAHEAD = 3  # a scene may be answered by one of the next three unused results


def found(scene: FaceSample, faces: Sequence[dict[str, Any]]) -> bool:
    """Whether a face detector's `faces` hit every face of `scene` at IoU >= 0.5."""
    boxes = [face["box"] for face in faces]
    return match_faces(scene.boxes, boxes)[0] == len(scene.boxes)


def scenes_found(scenes: Sequence[FaceSample], results: Sequence[bytes]) -> list[bool]:
    """Per scene, in order: did a result (taken in arrival order, each used once) hit every
    face of the scene at IoU >= 0.5? Results carry no frame number: a camera's stream is
    matched in order, so one missed or extra result does not shift the rest."""
    hits: list[bool] = []
    outputs = [json.loads(r)["output"]["faces"] for r in results]
    j = 0
    for scene in scenes:
        hit = None
        for k in range(j, min(j + LOOKAHEAD, len(outputs))):
            if found(scene, outputs[k]):
                hit = k
                break
        hits.append(hit is not None)
        if hit is not None:
            j = hit + 1
    return hits
