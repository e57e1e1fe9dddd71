"""Site gateways at the hub: `GET /peers`, the checked `PEER_SERVICE` record, and the peer
rights a device's broker grant carries (cloud_hub/crud/peers.py decides both)."""

from typing import Any

from broker.credentials import BrokerAuthRequest
from cloud_hub.api.routes.broker_auth import authenticate
from cloud_hub.db import tables as t
from contract.http import PEERS, path
from contract.peers import PEER_SERVICE, Peer, PeerOffer
from tests.hub.conftest import Hub, basic

DEVICES = "/api/v1/devices"
OFFER = PeerOffer(models=["face-detect-lite"], workers=2)


async def _create(hub: Hub, device_id: str, site: str | None) -> str:
    r = await hub.client.post(DEVICES, headers=hub.admin, json={"id": device_id, "site": site})
    assert r.status_code == 201, r.text
    secret: str = r.json()["device_secret"]
    return secret


async def _serve(hub: Hub, device_id: str, secret: str, metadata: Any = None) -> Any:
    body = {"service_id": PEER_SERVICE, "address": device_id,
            "metadata": OFFER.model_dump() if metadata is None else metadata}  # fmt: skip
    return await hub.client.put(
        f"{DEVICES}/{device_id}/service", headers=basic(device_id, secret), json=body
    )


async def _peers(hub: Hub, device_id: str, secret: str) -> list[Peer]:
    r = await hub.client.get(path(PEERS), headers=basic(device_id, secret))
    assert r.status_code == 200, r.text
    return [Peer.model_validate(p) for p in r.json()]


async def _site_a_and_b(hub: Hub) -> dict[str, str]:
    secrets = {d: await _create(hub, d, "site-a") for d in ("a1", "a2", "ga")}
    secrets |= {d: await _create(hub, d, "site-b") for d in ("b1", "gb")}
    secrets["loner"] = await _create(hub, "loner", None)
    for gateway in ("ga", "gb"):
        assert (await _serve(hub, gateway, secrets[gateway])).status_code == 200
    return secrets


async def test_a_device_lists_its_own_sites_gateways(hub: Hub) -> None:
    secrets = await _site_a_and_b(hub)
    expected = Peer(device_id="ga", models=OFFER.models, workers=2, state="offline")
    assert await _peers(hub, "a1", secrets["a1"]) == [expected]
    assert await _peers(hub, "a2", secrets["a2"]) == [expected]
    assert await _peers(hub, "ga", secrets["ga"]) == []  # itself excluded
    assert [p.device_id for p in await _peers(hub, "b1", secrets["b1"])] == ["gb"]
    assert await _peers(hub, "loner", secrets["loner"]) == []  # no site, no gateways

    # a deregistered gateway is no peer any more
    r = await hub.client.delete(f"{DEVICES}/ga/service", headers=basic("ga", secrets["ga"]))
    assert r.status_code == 200, r.text
    assert await _peers(hub, "a1", secrets["a1"]) == []


async def test_only_devices_ask(hub: Hub) -> None:
    r = await hub.client.get(path(PEERS), headers=hub.admin)
    assert r.status_code == 403
    assert "device credentials" in r.json()["error"]["message"]
    assert (await hub.client.get(path(PEERS))).status_code == 401


async def test_a_gateway_record_must_carry_a_peer_offer(hub: Hub) -> None:
    secret = await _create(hub, "ga", "site-a")
    for bad in ({}, {"models": ["m"]}, {"models": ["m"], "workers": 0}, {"models": "m"}):
        r = await _serve(hub, "ga", secret, bad)
        assert r.status_code == 422, r.text
        assert "PeerOffer" in r.json()["error"]["message"]
    r = await hub.client.patch(
        f"{DEVICES}/ga", headers=hub.admin,
        json={"service": {"service_id": PEER_SERVICE, "address": "ga", "metadata": {}}},
    )  # fmt: skip
    assert r.status_code == 422, r.text
    got = await hub.client.get(f"{DEVICES}/ga", headers=hub.admin)
    assert got.json()["service"] is None  # nothing stored
    # other services keep free-form metadata
    r = await hub.client.put(
        f"{DEVICES}/ga/service", headers=basic("ga", secret),
        json={"service_id": "http-api", "address": "http://10.0.0.7", "metadata": {"w": 1}},
    )  # fmt: skip
    assert r.status_code == 200, r.text


async def test_a_malformed_stored_record_is_skipped_not_a_500(hub: Hub) -> None:
    secrets = await _site_a_and_b(hub)
    await _create(hub, "gold", "site-a")
    with hub.app.state.db.session(write=True) as s:  # written before the hub checked it
        old = s.get(t.Device, "gold")
        old.service_id, old.address, old.service_meta = PEER_SERVICE, "gold", {"workers": "x"}
    assert [p.device_id for p in await _peers(hub, "a1", secrets["a1"])] == ["ga"]


async def test_broker_grants_carry_the_registrys_peers(hub: Hub) -> None:
    secrets = await _site_a_and_b(hub)

    def grant(device: str) -> tuple[list[str] | None, list[str] | None]:
        request = BrokerAuthRequest(username=device, password=secrets[device], client_id=device)
        answer = authenticate(hub.app.state.db, hub.settings, request)
        assert answer.allow
        assert answer.account is not None
        return answer.account.peers, answer.account.clients

    assert grant("a1") == (["ga"], None)
    assert grant("ga") == (None, ["a1", "a2"])
    assert grant("b1") == (["gb"], None)
    assert grant("gb") == (None, ["b1"])
    assert grant("loner") == (None, None)

    # a site change moves a device's peers (the admin sets sites, not the device)
    r = await hub.client.patch(f"{DEVICES}/a2", headers=hub.admin, json={"site": "site-b"})
    assert r.status_code == 200, r.text
    assert grant("a2") == (["gb"], None)
    assert grant("ga") == (None, ["a1"])
    assert grant("gb") == (None, ["a2", "b1"])
