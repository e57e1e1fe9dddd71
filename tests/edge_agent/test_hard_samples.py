"""The device's kept hard samples: bounded, typed, and uploaded oldest first until the hub
fails in a way that may pass; what the hub refuses, or cannot be read, is dropped."""

from pathlib import Path
from typing import Any, cast

import pytest

from contract import EdgeAnswer
from edge_agent.cloud import CloudClient, CloudError
from edge_agent.hard_samples import HardSamples, SampleMeta, upload_pending


def _meta(i: int, cloud_model: str | None = "face-detect-cloud") -> SampleMeta:
    edge = EdgeAnswer(model="face-detect-lite", model_version="1", output={"faces": []})
    return SampleMeta(
        model="face-detect-lite", saved_at=float(i), confidence=0.3, rid=f"r{i}",
        cloud_model=cloud_model, content_type="image/jpeg", edge=edge,
    )  # fmt: skip


class Hub:
    """Answers the uploads it is given, in order: None for success, else the error."""

    def __init__(self, *outcomes: CloudError | None) -> None:
        self.outcomes, self.asked = list(outcomes), []

    async def infer(self, model: str, payload: bytes, ctype: str, rid: Any, edge: Any) -> None:
        self.asked.append((model, payload, ctype, rid, edge.model))
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome


def test_bounded_and_typed(tmp_path: Path) -> None:
    hard = HardSamples(tmp_path, max_samples=2)
    for i in range(3):
        hard.save(f"img{i}".encode(), _meta(i))
    assert (hard.count(), hard.evicted) == (2, 1)
    payload, meta = hard.load(hard.oldest(1)[0]) or (b"", None)
    assert payload == b"img1"
    assert meta is not None
    assert (meta.rid, meta.cloud_model, meta.content_type) == (
        "r1",
        "face-detect-cloud",
        "image/jpeg",
    )
    assert meta.edge is not None
    assert meta.edge.output == {"faces": []}
    broken = hard.oldest(1)[0].with_suffix(".json")
    broken.write_text("{not json")
    assert hard.load(broken.with_suffix(".bin")) is None
    assert hard.count() == 1  # the unreadable pair is gone


async def test_upload_stops_at_a_passing_failure_and_drops_refusals(tmp_path: Path) -> None:
    hard = HardSamples(tmp_path, max_samples=10)
    for i in range(4):
        hard.save(f"img{i}".encode(), _meta(i))
    hub = Hub(
        None,
        CloudError("hub refused: bad image", retryable=False),
        CloudError("down", retryable=True),
    )
    uploaded, dropped = await upload_pending(hard, cast(CloudClient, hub), limit=10)
    assert (uploaded, dropped) == (1, 1)
    assert [a[1] for a in hub.asked] == [b"img0", b"img1", b"img2"]  # oldest first
    assert hub.asked[0][0] == "face-detect-cloud"
    assert hard.count() == 2  # img2 (hub away) and img3 wait for the next pass
    hub = Hub(None, None)
    assert await upload_pending(hard, cast(CloudClient, hub), limit=10) == (2, 0)
    assert hard.count() == 0


@pytest.mark.parametrize("limit", [0, 1])
async def test_a_sample_without_a_hub_model_is_dropped(tmp_path: Path, limit: int) -> None:
    hard = HardSamples(tmp_path, max_samples=10)
    hard.save(b"old", _meta(0, cloud_model=None))
    assert await upload_pending(hard, cast(CloudClient, Hub()), limit=limit) == (0, limit)
    assert hard.count() == 1 - limit
