"""Hard samples end to end: a real agent whose cascade asks a real hub about unsure images sends
its own answer along; the hub keeps each input with both answers, and an agent that opts out
sends none. Mosquitto, hub and agent processes."""

from pathlib import Path

import httpx
import pytest

from contract.http import SAMPLE_CONTENT, SAMPLES, path
from edgefleet.procs.wait import wait_until
from models.datasets.faces import generate
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.requires import require_models
from tests.offload.fleet import FACE, T, rid, running_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.timeout(120)]


def _cascade(share: bool) -> dict[str, object]:
    return {
        "offload": {
            # every answer is "unsure": each image goes to the hub for a second opinion
            "pipelines": {FACE: {"mode": "cascade", "uncertain": [0.0, 1.0]}},
            "share_hard_samples": share,
        }
    }


def _ask_all(fleet: object, device: str, images: list[bytes]) -> list[str]:
    where = []
    for i, image in enumerate(images):
        fleet.probe.publish(T.infer(device, FACE, rid(i)), image)  # type: ignore[attr-defined]
        topic = T.result(device, FACE, rid(i))
        message = fleet.probe.wait_for(lambda m, t=topic: m.topic == t, 20)  # type: ignore[attr-defined]
        where.append(message.json()["where"])
    return where


@pytest.mark.parametrize("share", [True, False])
def test_cascade_second_opinions_become_hard_samples(
    tmp_path: Path, mosquitto_broker: BrokerProcess, share: bool
) -> None:
    require_models("face-detect-lite", "face-detect-full")
    images = [s.jpeg for s in generate(3, seed=31, negative_fraction=0.0)]
    with running_fleet(tmp_path, mosquitto_broker, 1, **_cascade(share)) as fleet:
        device = fleet.devices[0]
        assert _ask_all(fleet, device, images) == ["cloud"] * 3
        page = httpx.get(fleet.hub.url + path(SAMPLES), headers=fleet.hub.admin, timeout=10)
        assert page.status_code == 200, page.text
        samples = page.json()["items"]
        if not share:
            assert samples == []
            return
        assert len(samples) == 3
        for sample in samples:
            assert (sample["device_id"], sample["model"]) == (device, FACE)
            assert sample["cloud_model"] == "face-detect-cloud"  # the catalogue's offload_to
            assert "faces" in sample["edge_output"]
            assert "faces" in sample["cloud_output"]
        kept = {
            httpx.get(
                fleet.hub.url + path(SAMPLE_CONTENT, sample_id=s["id"]),
                headers=fleet.hub.admin,
                timeout=10,
            ).content
            for s in samples
        }
        assert kept == set(images)


def test_samples_kept_while_the_hub_is_away_are_uploaded_when_it_is_back(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    """The hub killed: the cascade answers from the edge and keeps the inputs on the device;
    the hub back (same database): the agent uploads them, oldest first, and forgets them."""
    require_models("face-detect-lite", "face-detect-full")
    images = [s.jpeg for s in generate(3, seed=32, negative_fraction=0.0)]
    config = _cascade(True)
    offload: dict[str, object] = config["offload"]  # type: ignore[assignment]
    offload |= {"probe_interval_s": 0.3, "breaker_failures": 1, "timeout_s": 2.0}
    with running_fleet(tmp_path, mosquitto_broker, 1, **config) as fleet:
        device = fleet.devices[0]
        kept = fleet.agents[0].state_dir / f"hard-samples-{device}"
        fleet.hub.kill()
        assert _ask_all(fleet, device, images) == ["edge"] * 3
        agent = fleet.agents[0].proc
        wait_until(lambda: len(list(kept.glob("*.bin"))) == 3, agent, timeout=10, what="kept")
        fleet.hub.start()
        url = fleet.hub.url + path(SAMPLES)

        def uploaded() -> bool:
            return httpx.get(url, headers=fleet.hub.admin, timeout=10).json()["total"] == 3

        wait_until(uploaded, agent, timeout=30, what="samples uploaded")
        wait_until(lambda: not list(kept.glob("*.bin")), agent, timeout=10, what="forgotten")
        items = httpx.get(url, headers=fleet.hub.admin, timeout=10).json()["items"]
        assert {s["model"] for s in items} == {FACE}
        assert all("faces" in s["edge_output"] for s in items)


def test_engine_readings_reach_the_hubs_engine_model(
    tmp_path: Path, mosquitto_broker: BrokerProcess
) -> None:
    """A tabular model offloads as JSON (its catalogue input kind), so the hub's larger
    engine model answers and an unsure reading becomes a hard sample like an image does."""
    import json

    from models.datasets.engine import engine_profile, generate_records

    readings = generate_records(engine_profile(3, seed=9), 3)
    for r in readings:
        r.pop("fault_status")
    offload = {"pipelines": {"engine-fault": {"mode": "cascade", "uncertain": [0.0, 1.0]}}}
    with running_fleet(
        tmp_path, mosquitto_broker, 1, models=("engine-fault",), offload=offload
    ) as fleet:
        device = fleet.devices[0]
        for i, reading in enumerate(readings):
            fleet.probe.publish(T.infer(device, "engine-fault", rid(i)), json.dumps(reading))
            topic = T.result(device, "engine-fault", rid(i))
            answer = fleet.probe.wait_for(lambda m, t=topic: m.topic == t, 20).json()
            assert (answer["where"], answer["model_version"]) == ("cloud", "cloud-1")
        page = httpx.get(fleet.hub.url + path(SAMPLES), headers=fleet.hub.admin, timeout=10)
        assert {s["cloud_model"] for s in page.json()["items"]} == {"engine-fault-cloud"}
        assert page.json()["total"] == 3
