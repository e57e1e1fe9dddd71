"""Signed over-the-air updates: a device runs a signed newer version, and refuses tampered,
unsigned, wrongly signed and older artifacts while the old model keeps serving."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_hub.db import tables as t
from contract import CommandReply, ModelManifest, ModelUpdateArgs, Topics, decode
from edge_agent.config import parse_config
from edge_agent.federated import DeviceLearning
from edge_agent.messages import Outbound
from edge_agent.model_sync import Refused, verify_artifact
from models.datasets.engine import engine_profile, generate_records
from models.pipelines import load_pipeline
from models.training import mlp
from models.training.engine import SHAPE
from models.training.manifest import sign
from models.training.onnx_export import export_onnx
from tests.federated.conftest import ADMIN, LiveHub, live_hub  # noqa: F401 - fixture

MODEL = "engine-fault"
READING = json.dumps(
    {k: v for k, v in generate_records(engine_profile(1), 1)[0].items() if k != "fault_status"}
).encode()


def _raw_key(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _public(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()


def _manifest(version: str, seq: int, sha256: str, size: int) -> ModelManifest:
    return ModelManifest(
        model=MODEL, version=version, seq=seq, sha256=sha256, size=size, format="onnx"
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m, s, d: (m, None, d), "unsigned"),
        (lambda m, s, d: (m, "AAAA" + s[4:], d), "bad_signature"),
        (lambda m, s, d: (m, s, d[:-1] + b"x"), "tampered"),
    ],
)
def test_verify_artifact_refuses(mutate: Any, reason: str) -> None:
    key = Ed25519PrivateKey.generate()
    data = b"model bytes"
    import hashlib

    manifest = _manifest("v2", 2, hashlib.sha256(data).hexdigest(), len(data))
    m, sig, d = mutate(manifest, sign(manifest, _raw_key(key)), data)
    with pytest.raises(Refused) as info:
        verify_artifact(d, m, sig, _public(key), 1)
    assert info.value.reason == reason


def test_verify_artifact_refuses_rollback_and_wrong_key() -> None:
    import hashlib

    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    data = b"model"
    manifest = _manifest("v1", 1, hashlib.sha256(data).hexdigest(), len(data))
    signature = sign(manifest, _raw_key(key))
    verify_artifact(data, manifest, signature, _public(key), None)
    with pytest.raises(Refused, match="not newer") as info:
        verify_artifact(data, manifest, signature, _public(key), 3)
    assert info.value.reason == "rollback"
    with pytest.raises(Refused) as info:
        verify_artifact(data, manifest, signature, _public(other), None)
    assert info.value.reason == "bad_signature"


class Device:
    """A device's model slots and learning glue, publishing into a list."""

    def __init__(self, hub: LiveHub, tmp: Path, device: str, public_key: str) -> None:
        config = parse_config(
            {
                "device_id": device,
                "models": [MODEL],
                "hub": {"url": hub.url},
                "model_dir": str(tmp / "models"),
                "broker": {"username": device, "password": hub.secrets[device]},
                "model_sync": {"public_key": public_key, "state_dir": str(tmp / f"state-{device}")},
            }
        )
        self.published: list[Outbound] = []
        self.learning = DeviceLearning(config, Topics(), self.published.append)
        seed = load_pipeline(MODEL, model_dir=config.model_dir)
        self.slot = self.learning.wrap({MODEL: [seed]})[MODEL][0]

    async def update(self, args: dict[str, Any]) -> CommandReply:
        await self.learning._update("c1", ModelUpdateArgs.model_validate(args))
        return decode(CommandReply, self.published[-1].payload)


async def _register(hub: LiveHub, seed: int) -> dict[str, Any]:
    params = mlp.train(SHAPE, mlp.init_params(SHAPE, seed), *_tiny(), epochs=1)
    r = await hub.client.post(
        f"/api/v1/models/{MODEL}/versions", headers=ADMIN, content=export_onnx(SHAPE, params)
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _tiny() -> tuple[Any, Any]:
    from models.datasets.engine import engine_data

    data = engine_data(engine_profile(0), 50)
    return data.x, data.y


def _args(version: dict[str, Any], **override: Any) -> dict[str, Any]:
    manifest = {k: version[k] for k in ("model", "version", "seq", "sha256", "size", "format")}
    return {
        "manifest": manifest,
        "signature": version["signature"],
        "deployment_id": None,
        "url": version["download_url"],
        **override,
    }


async def test_signed_update_runs_and_bad_ones_are_refused(
    live_hub: LiveHub,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Prepare
    await live_hub.enroll("engine-a")
    key = (await live_hub.client.get("/api/v1/models/signing-key", headers=ADMIN)).json()
    device = Device(live_hub, tmp_path, "engine-a", key["public_key"])
    v1, v2 = await _register(live_hub, 1), await _register(live_hub, 2)
    # Execute: v2 (newer than the seed) is accepted and served
    reply = await device.update(_args(v2))
    # Assert
    assert reply.ok, reply.error
    assert (device.slot.version, device.slot.run(READING).label in range(4)) == ("v2", True)
    rows = (await live_hub.client.get(f"/api/v1/models/{MODEL}/devices", headers=ADMIN)).json()
    assert [(r["device_id"], r["version"], r["state"]) for r in rows] == [
        ("engine-a", "v2", "running")
    ]

    # tampered: the stored artifact is changed on the hub after signing
    v3 = await _register(live_hub, 3)
    with live_hub.app.state.db.session(write=True) as s:
        stored = s.get(t.Artifact, v3["sha256"])
        stored.data = stored.data[:-2] + b"\0\0"
    other = Ed25519PrivateKey.generate()
    forged = sign(_manifest("v3", v3["seq"], v3["sha256"], v3["size"]), _raw_key(other))
    cases = [
        (_args(v3), "tampered"),
        (_args(v3, signature=None), "unsigned"),
        (_args(v3, signature=forged), "bad_signature"),
        (_args(v1), "rollback"),
    ]
    for args, reason in cases:
        reply = await device.update(args)
        assert not reply.ok
        assert reply.error is not None
        assert reply.error.startswith(reason), reply.error
        # the old model keeps serving
        assert device.slot.version == "v2"
        assert device.slot.run(READING).label in range(4)
    rows = (await live_hub.client.get(f"/api/v1/models/{MODEL}/devices", headers=ADMIN)).json()
    assert rows[0]["state"] == "refused"
    assert rows[0]["version"] == "v2"
    assert rows[0]["reason"].startswith("rollback")

    # a restart re-verifies the installed artifact and serves it
    again = Device(live_hub, tmp_path, "engine-a", key["public_key"])
    assert again.slot.version == "v2"
    # with another pinned key the installed artifact is refused at start: seed serves
    stranger = Device(live_hub, tmp_path, "engine-a", _public(other))
    assert stranger.slot.version == "seed-1"


def test_a_registry_artifact_stands_in_for_the_catalogues_one_file(tmp_path: Path) -> None:
    """Stored as `<sha256>.tflite`, the artifact still loads as the face model's file, and an
    engine-fault ONNX (no catalogue file) as itself; a model made of several files, or bytes
    that are not the model's network, are refused."""
    from edge_agent.model_sync import load_version
    from edgefleet.bench.edge.inputs import bench_input
    from models.catalogue import load_catalogue
    from models.fetch import ensure_files

    catalogue = load_catalogue()
    lite = catalogue.get("face-detect-lite")
    artifact = tmp_path / ("ab" * 32 + ".tflite")
    artifact.write_bytes(ensure_files(lite)[lite.files[0].name].read_bytes())
    pipeline = load_version("face-detect-lite", artifact, "v9", None)
    assert pipeline.version == "v9"
    assert pipeline.run(bench_input("face-detect-lite").payload).model_dump()["faces"]
    with pytest.raises(Refused) as many:
        load_version("wakeword-lite", artifact, "v2", None)
    assert many.value.reason == "multi_file"
    built = tmp_path / ("cd" * 32 + ".onnx")  # engine-fault: a model built here, no file
    built.write_bytes(export_onnx(SHAPE, mlp.init_params(SHAPE, 5)))
    assert load_version(MODEL, built, "v2", None).run(READING).model_dump()["probabilities"]
    wrong = ensure_files(catalogue.get("face-detect-full"))
    with pytest.raises(Refused) as unloadable:
        load_version("face-detect-lite", next(iter(wrong.values())), "v3", None)
    assert unloadable.value.reason == "unloadable"
    assert "does not load" in str(unloadable.value)
