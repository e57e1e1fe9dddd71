"""What the hub answers is what the contract's models (and so the device's clients) read."""

from contract import ModelManifest
from edge_agent.model_sync import verify_artifact
from edge_agent.provision import parse_enrollment
from tests.hub.conftest import Hub


async def test_the_enrollment_answer_is_the_contracts(hub: Hub) -> None:
    token = await hub.client.post(
        "/api/v1/enrollment-tokens", headers=hub.admin, json={"name": "contract"}
    )
    r = await hub.client.post(
        "/api/v1/enroll",
        json={"device_id": "cam-1"},
        headers={"Authorization": f"Bearer {token.json()['token']}"},
    )
    assert r.status_code == 201, r.text
    result = parse_enrollment(r.content, "http://hub")
    assert result.device_id == "cam-1"
    assert result.hub_url == hub.settings.public_url
    assert (result.mqtt.username, result.mqtt.topic_prefix) == ("cam-1", hub.settings.topic_prefix)


async def test_a_registered_version_is_a_manifest_a_device_verifies(hub: Hub) -> None:
    artifact = b"\x08\x07model"
    r = await hub.client.post(
        "/api/v1/models/engine-fault/versions", headers=hub.admin, content=artifact
    )
    assert r.status_code == 201, r.text
    manifest = ModelManifest.model_validate(r.json())
    key = await hub.client.get("/api/v1/models/signing-key", headers=hub.admin)
    verify_artifact(artifact, manifest, r.json()["signature"], key.json()["public_key"], None)
    download = await hub.client.get(r.json()["download_url"], headers=hub.admin)
    assert download.content == artifact
