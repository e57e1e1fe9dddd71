"""Whether the device's answer and the hub's agree, per kind of output (hard samples' `agree`).

Faces: the same number of faces, each device box overlapping one hub box with IoU >= 0.5;
wake words: the same verdict and word; classifiers: the same class. Anything else agrees only
when the outputs are equal.
"""

from collections.abc import Mapping
from typing import Any

from contract.outputs import match_faces


def _boxes(output: Mapping[str, Any]) -> list[list[float]]:
    return [list(f.get("box", ())) for f in output.get("faces", []) if len(f.get("box", ())) == 4]


def agree(edge: Mapping[str, Any], cloud: Mapping[str, Any]) -> bool:
    if "faces" in edge or "faces" in cloud:
        mine, theirs = _boxes(edge), _boxes(cloud)
        return len(mine) == len(theirs) and match_faces(mine, theirs)[0] == len(mine)
    if "detected" in edge or "detected" in cloud:
        return bool(edge.get("detected")) == bool(cloud.get("detected")) and (
            not edge.get("detected") or edge.get("wake_word") == cloud.get("wake_word")
        )
    if "label" in edge or "label" in cloud:
        return edge.get("label") == cloud.get("label")
    return dict(edge) == dict(cloud)
