"""Presence after a restart: the embedded broker never repeats a stale `online`.

A SIGKILLed broker publishes no Wills, and its persistence database brings every device's
retained `online` birth back. A third party that waits for `online` before it publishes a
request (as the topic contract tells it to) would then publish to a device that has not
reconnected, let alone re-subscribed, and its request would be lost. At start-up the broker
therefore replaces each retained `online` with the `offline` the device's Will would have said;
the agent's next birth, sent only after its subscriptions are acknowledged, says `online` again.
"""

import logging

from amqtt.broker import Broker

from contract import ContractError, Kind, Status, Topics, decode, encode, utcnow
from contract.health import DeviceState

log = logging.getLogger(__name__)


async def expire_presence(broker: Broker, prefix: str) -> list[str]:
    """Mark every retained `online` status under `prefix` offline; return the topics changed."""
    topics = Topics(prefix)
    stale: list[tuple[str, Status, int]] = []
    for topic, retained in list(broker.retained_messages.items()):
        try:
            if retained.source_session is not None or topics.parse(topic).kind is not Kind.STATUS:
                continue  # only what the database restored: a live birth is the truth
            status = decode(Status, bytes(retained.data or b""))
        except ContractError:
            continue
        if status.state is DeviceState.ONLINE:
            stale.append((topic, status, retained.qos or 0))
    for topic, status, qos in stale:
        offline = status.model_copy(update={"state": DeviceState.OFFLINE, "ts": utcnow()})
        await broker.retain_message(None, topic, encode(offline), qos)
    if stale:
        log.info("restart: %d devices marked offline until they reconnect", len(stale))
    return [topic for topic, _, _ in stale]
