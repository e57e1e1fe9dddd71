"""The access-control matrix's peer rules, on both secured brokers: site gateways.

Site A has devices a1, a2 and gateway ga; site B has device b1 and gateway gb. Accounts carry
the peer rights the hub would grant (amqtt: the credentials file; Mosquitto: dynsec roles):
a1 offloads to ga's `infer` and ga's answer on a1's `reply` reaches a1; a1's publishes to
ga's other topics, and b1's to ga's `infer`, reach nobody (the hub's `#` subscription sees
everything the broker delivers); a1 may watch ga's `status`/`health` but not its results.
A sentinel published after the probes on the same connection marks delivery as finished.
"""

from collections.abc import Iterator

import pytest

from broker.acl import Account as BrokerAccount
from broker.acl import AccountKind
from contract import Kind, Topics
from tests.broker.test_acl_matrix import OWN_OK, Account, own_read_filters
from tests.fixtures.brokers import SecuredBroker

pytestmark = pytest.mark.timeout(60)

T = Topics()
SITE_A, SITE_B = ("a1", "a2"), ("b1",)


def _device(name: str, peers: tuple[str, ...] = (), clients: tuple[str, ...] = ()) -> BrokerAccount:
    return BrokerAccount(AccountKind.DEVICE, name, peers=peers, clients=clients)


ACCOUNTS = [
    *(_device(d, peers=("ga",)) for d in SITE_A),
    _device("ga", clients=SITE_A),
    *(_device(d, peers=("gb",)) for d in SITE_B),
    _device("gb", clients=SITE_B),
]


@pytest.fixture
def sites(secured_broker: SecuredBroker) -> Iterator[tuple[Account, dict[str, Account]]]:
    broker = secured_broker
    assert broker.add_device_accounts is not None
    passwords = broker.add_device_accounts(ACCOUNTS)
    hub = Account(broker, *broker.hub, client_id=broker.hub_client_id)
    devices = {a.name: Account(broker, a.name, passwords[a.name], a.name) for a in ACCOUNTS}
    assert hub.subscribe([f"{T.prefix}/#"]) == [True]
    for name, device in devices.items():
        assert device.subscribe(own_read_filters(name)) == OWN_OK
    yield hub, devices
    for account in (hub, *devices.values()):
        account.close()


def _leaks(*who: Account) -> list[tuple[str, str]]:
    return [(a.name, topic) for a in who for topic, p in a.messages if p.startswith(b"probe")]


def test_a_device_offloads_to_its_sites_gateway_and_nothing_more(
    sites: tuple[Account, dict[str, Account]],
) -> None:
    hub, devices = sites
    a1, ga, b1 = devices["a1"], devices["ga"], devices["b1"]
    a1.publish_all(
        [
            (T.infer("ga", "face", "r1"), b"offload a1 r1"),
            (T.infer("ga", "face"), b"offload a1"),
            (T.cmd("ga", "reload"), b"probe a1 cmd"),
            (T.twin_desired("ga"), b"probe a1 twin"),
            (T.result("ga", "face", "r1"), b"probe a1 result"),
            (T.status("ga"), b"probe a1 status"),
            (T.reply("a2", "r1"), b"probe a1 reply"),  # a1 is nobody's gateway
            (T.infer("gb", "face", "r1"), b"probe a1 other site"),
            (T.infer("ga", "face", "sentinel"), b"sentinel a1"),
        ]
    )
    b1.publish_all(
        [
            (T.infer("ga", "face", "r1"), b"probe b1 infer"),  # another site's gateway
            (T.infer("gb", "face", "r1"), b"offload b1"),  # its own site's
            (T.event("b1", "sentinel"), b"sentinel b1"),
        ]
    )
    ga.wait_for_payload(b"sentinel a1")
    devices["gb"].wait_for_payload(b"offload b1")
    for sentinel in (b"sentinel a1", b"sentinel b1"):
        hub.wait_for_payload(sentinel)
    got = {(topic, p) for topic, p in ga.messages}
    assert (T.infer("ga", "face", "r1"), b"offload a1 r1") in got
    assert (T.infer("ga", "face"), b"offload a1") in got

    # the gateway answers a1 on a1's reply topic; not b1 (another site), not a1's commands
    ga.publish_all(
        [
            (T.reply("a1", "r1"), b"answer r1"),
            (T.reply("b1", "r1"), b"probe ga reply"),
            (T.cmd("a1", "reload"), b"probe ga cmd"),
            (T.infer("a1", "face", "r1"), b"probe ga infer"),
            (T.status("ga"), b"sentinel ga"),
        ]
    )
    a1.wait_for_payload(b"answer r1")
    hub.wait_for_payload(b"sentinel ga")
    assert (T.reply("a1", "r1"), b"answer r1") in a1.messages
    assert _leaks(hub, *devices.values()) == []


def test_a_device_watches_its_gateway_but_reads_none_of_its_results(
    sites: tuple[Account, dict[str, Account]],
) -> None:
    hub, devices = sites
    a1, b1 = devices["a1"], devices["b1"]
    assert a1.subscribe([T.status("ga"), T.health("ga")]) == [True, True]
    refused = [T.filter(Kind.RESULT, "ga"), T.filter(Kind.CMD, "ga"), T.all("ga"),
               T.filter(Kind.INFER, "ga"), T.filter(Kind.REPLY, "a2"), T.health("gb")]  # fmt: skip
    assert a1.subscribe(refused) == [False] * len(refused)
    assert b1.subscribe([T.status("ga"), T.health("ga")]) == [False, False]

    hub.publish_all(
        [
            (T.result("ga", "face", "r1"), b"probe result"),
            (T.cmd("ga", "reload"), b"probe cmd"),
            (T.reply("a2", "r1"), b"probe reply"),
            (T.health("gb"), b"probe other health"),
            (T.status("ga"), b"ga status"),
            (T.health("ga"), b"ga health"),
            (T.cmd("a1", "sentinel"), b"sentinel a1"),
            (T.cmd("b1", "sentinel"), b"sentinel b1"),
        ]
    )
    a1.wait_for_payload(b"sentinel a1")
    b1.wait_for_payload(b"sentinel b1")
    assert {(T.status("ga"), b"ga status"), (T.health("ga"), b"ga health")} <= set(a1.messages)
    assert [t for t, _ in b1.messages if T.parse(t).device != "b1"] == []
    assert _leaks(a1, b1) == []
