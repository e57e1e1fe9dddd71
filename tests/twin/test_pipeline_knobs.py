"""`pipelines.<m>.min_score` through the production wrapper (SwappablePipeline), and kept
across a model swap (issue #14)."""

from typing import Any

from contract import TwinDesired, encode
from edge_agent.config import parse_config
from edge_agent.model_sync import ModelSync, SwappablePipeline
from edge_agent.twin import PIPELINE_KNOBS, DeviceTwin, agent_knobs
from tests.edge_agent.fakes import FakePipeline

KEY = "pipelines.face.min_score"


class Health:
    interval_s = 5.0


def scored(model: str, min_score: float | None) -> FakePipeline:
    pipeline = FakePipeline(model)
    if min_score is not None:
        pipeline.min_score = min_score  # type: ignore[attr-defined]
    return pipeline


def desired(hub: int, state: dict[str, Any]) -> bytes:
    return encode(TwinDesired(version={"hub": hub}, state=state))


def test_knob_reaches_the_pipelines_behind_the_production_wrapper() -> None:
    config = parse_config({"device_id": "cam-1", "models": ["face", "word"]})
    inner = [scored("face", 0.5), scored("face", 0.5)]
    slots = ModelSync(config).wrap({"face": list(inner), "word": [scored("word", None)]})
    assert all(isinstance(s, SwappablePipeline) for s in slots["face"])
    twin = DeviceTwin("cam-1", agent_knobs(Health(), slots, None))
    report = twin.on_desired(desired(1, {"pipelines": {"face": {"min_score": 0.8}}}))
    assert report is not None
    assert report.rejected == {}
    assert report.state[KEY] == 0.8
    assert [p.min_score for p in inner] == [0.8, 0.8]  # type: ignore[attr-defined]
    # a model without the setting offers no knob: the key is rejected, not crashed on
    report = twin.on_desired(desired(2, {"pipelines.word.min_score": 0.3}))
    assert report is not None
    assert "pipelines.word.min_score" in report.rejected


def test_a_model_swap_keeps_the_operators_value() -> None:
    slot = SwappablePipeline(scored("face", 0.5), seq=1)
    twin = DeviceTwin("cam-1", agent_knobs(Health(), {"face": [slot]}, None))
    twin.on_desired(desired(1, {KEY: 0.9}))
    fresh = scored("face", 0.5)  # the new version comes with the catalogue's default
    slot.swap(fresh, seq=2)
    assert fresh.min_score == 0.9  # type: ignore[attr-defined]
    assert twin.state()[KEY] == 0.9
    untouched = SwappablePipeline(scored("face", 0.5), seq=1)
    untouched.swap(scored("face", 0.6), seq=2)  # no operator value: the new default stands
    assert untouched.min_score == 0.6


def test_every_pipeline_knob_is_exposed_by_the_wrapper() -> None:
    assert set(PIPELINE_KNOBS) <= set(SwappablePipeline.TUNABLE)


def test_the_twin_turns_hard_sample_sharing_off_and_on() -> None:
    """An operator opts a device out of sending its hard samples (and back in) live."""

    class Dispatch:
        plans: dict[str, Any] = {}
        share_hard = True

    dispatch = Dispatch()
    twin = DeviceTwin("cam-1", agent_knobs(Health(), {}, dispatch))
    report = twin.on_desired(desired(1, {"offload": {"share_hard_samples": False}}))
    assert report is not None
    assert (report.rejected, dispatch.share_hard) == ({}, False)
    report = twin.on_desired(desired(2, {"offload.share_hard_samples": "yes"}))
    assert report is not None
    assert "offload.share_hard_samples" in report.rejected
    assert dispatch.share_hard is False
    twin.on_desired(desired(3, {"offload.share_hard_samples": True}))
    assert dispatch.share_hard is True
