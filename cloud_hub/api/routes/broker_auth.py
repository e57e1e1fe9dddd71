"""`POST` broker auth (contract.http.BROKER_AUTH): the broker asks who a CONNECT is
(broker/credentials.py).

Callers present the broker service key (`EDGEFLEET_BROKER_SERVICE_KEY`) as Bearer. Devices
are checked against the registry (secret digest; a deleted device is unknown, a rotated
secret stops matching at once); the hub account is `mqtt_username`/`mqtt_password`;
integrators come from `broker_accounts`. A device's grant carries its peer rights from the
registry (cloud_hub/crud/peers.py: the gateways of its site, and the devices a gateway
serves), so they follow a gateway's registration within the cache TTL too. Every refusal is
`200 {"allow": false}` - the broker caches answers for a few seconds, so a revocation applies
within its `auth_cache_ttl_s`.
"""

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends

from broker.acl import sensor_read_filters
from broker.credentials import (
    AccountGrant,
    BrokerAuthRequest,
    BrokerAuthResponse,
    client_id_allowed,
    hash_secret,
)
from cloud_hub.api.deps import DbDep, SettingsDep, bearer_token
from cloud_hub.core import security
from cloud_hub.core.config import Settings
from cloud_hub.core.db import Database
from cloud_hub.core.errors import Unauthorized
from cloud_hub.crud import peers as crud_peers
from cloud_hub.db import tables as t
from cloud_hub.schemas.devices import SENSOR_TOPICS_KEY
from contract.http import BROKER_AUTH

router = APIRouter(tags=["broker"])
DENY = BrokerAuthResponse(allow=False)


def _check_service_key(settings: Settings, token: str) -> None:
    expected = settings.broker_service_key
    if expected is None or not hmac.compare_digest(
        security.digest(token), security.digest(expected.get_secret_value())
    ):
        raise Unauthorized("invalid broker service key", code="invalid_credentials")


def _device(db: Database, settings: Settings, request: BrokerAuthRequest) -> AccountGrant | None:
    with db.session(write=False) as s:
        device = s.get(t.Device, request.username)
        if device is None or not security.matches(request.password, device.secret_hash):
            return None
        wanted = device.meta.get(SENSOR_TOPICS_KEY) or []
        peers, clients = crud_peers.peers_of(s, device), crud_peers.clients_of(s, device)
    sensors = sensor_read_filters(
        wanted if isinstance(wanted, list) else [],
        prefix=settings.topic_prefix,
        ha_prefix=settings.ha_discovery_prefix or None,
    )
    return AccountGrant(
        kind="device",
        name=device.id,
        read=list(sensors) or None,
        peers=list(peers) or None,
        clients=list(clients) or None,
    )


def _configured(settings: Settings, request: BrokerAuthRequest) -> AccountGrant | None:
    hub_password = settings.mqtt_password
    if (
        request.username == settings.mqtt_username
        and hub_password is not None
        and hmac.compare_digest(request.password, hub_password.get_secret_value())
    ):
        return AccountGrant(kind="hub", name=request.username)
    for entry in settings.broker_accounts:
        if (
            entry.name == request.username
            and not entry.disabled
            and hmac.compare_digest(entry.secret_sha256, hash_secret(request.password))
        ):
            return AccountGrant(
                kind=entry.kind, name=entry.name, publish=entry.publish, read=entry.read
            )
    return None


def authenticate(
    db: Database, settings: Settings, request: BrokerAuthRequest
) -> BrokerAuthResponse:
    grant = _configured(settings, request)
    if grant is None and request.username != settings.mqtt_username:
        grant = _device(db, settings, request) if request.username.strip() else None
    if grant is None or not client_id_allowed(grant.account(), request.client_id):
        return DENY
    if grant.kind != "device" and _is_device(db, request.client_id):
        return DENY  # a device's client id is that device's alone: no squatting on it
    return BrokerAuthResponse(allow=True, account=grant)


def _is_device(db: Database, client_id: str) -> bool:
    with db.session(write=False) as s:
        return s.get(t.Device, client_id) is not None


@router.post(BROKER_AUTH, response_model_exclude_none=True)
def broker_auth(
    body: BrokerAuthRequest,
    token: Annotated[str, Depends(bearer_token)],
    db: DbDep,
    settings: SettingsDep,
) -> BrokerAuthResponse:
    """Allow (with the account's kind, name and rights) or refuse one MQTT CONNECT."""
    _check_service_key(settings, token)
    return authenticate(db, settings, body)
