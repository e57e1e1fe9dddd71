"""Site gateways under the broker's real access control: Mosquitto with dynamic security,
accounts and roles provisioned by the hub, three agent processes.

A device of site A gets its cascade's second opinions from site A's gateway (its rights to the
gateway's `infer` topic, the gateway's rights to its `reply` topic, and its rights to watch the
gateway all come from the registry); a device of site B is not offered that gateway and asks
the hub. The per-topic refusals are in tests/broker/test_acl_matrix_peers.py.
"""

from pathlib import Path

import pytest

from edgefleet.procs.agent import AgentProcess, agent_config
from edgefleet.procs.delay import DelayProxy
from edgefleet.procs.hub import HubProcess
from tests.fixtures.brokers import SecuredBroker
from tests.fixtures.contract import assert_follows_contract
from tests.fixtures.mqtt import MqttProbe
from tests.offload.fleet import Fleet, T, jpeg, rid, start_agents

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.timeout(180)]

LITE, CLOUD = "face-detect-lite", "face-detect-cloud"
ASK_ALWAYS = {  # cascade asking for a second opinion on every image
    "pipelines": {LITE: {"mode": "cascade"}},
    "policy": {"uncertain_low": 0.0, "uncertain_high": 1.0},
    "timeout_s": 5.0,
}
PEERS = {"refresh_s": 0.5, "timeout_s": 5.0, "stale_s": 5.0}


def answers(probe: MqttProbe, device: str, first: int, n: int) -> list[str]:
    """Ask `device` `n` images one after the other; who computed each answer."""
    where = []
    for seq in range(first, first + n):
        probe.publish(T.infer(device, LITE, rid(seq)), jpeg(0.5))
        answer = probe.wait_for(T.result(device, LITE, rid(seq)), 20).json()
        where.append(f"{answer['where']}:{answer.get('served_by', '')}")
    return where


@pytest.mark.long  # make test-long: make test is over its 15-minute budget on this machine
def test_a_site_gateway_answers_its_site_only_under_dynsec_acls(
    tmp_path: Path, dynsec_mosquitto_broker: SecuredBroker
) -> None:
    broker = dynsec_mosquitto_broker
    assert broker.admin is not None
    env = {
        "EDGEFLEET_MQTT_USERNAME": broker.hub[0],
        "EDGEFLEET_MQTT_PASSWORD": broker.hub[1],
        "EDGEFLEET_MQTT_CLIENT_ID": broker.hub_client_id,
        "EDGEFLEET_MQTT_DYNSEC": "true",
        "EDGEFLEET_MQTT_DYNSEC_USERNAME": broker.admin[0],
        "EDGEFLEET_MQTT_DYNSEC_PASSWORD": broker.admin[1],
    }
    hub = HubProcess(tmp_path / "hub", broker.process.port, extra_env=env)
    hub.start()
    password = broker.add_integrators(["probe"])["probe"]
    probe = MqttProbe(
        broker.process.host, broker.process.port, client_id="probe", auth=("probe", password)
    ).connect()
    agents: list[AgentProcess] = []
    try:
        probe.subscribe(T.all())  # an integrator reads results, status and errors of all
        with DelayProxy(hub.port, 250.0) as far:  # a hub far away, a gateway on the LAN
            sites = (("gw-a", "site-a", [CLOUD], {"serve": True}, {}),
                     ("dev-a", "site-a", [LITE], PEERS, ASK_ALWAYS),
                     ("dev-b", "site-b", [LITE], PEERS, ASK_ALWAYS))  # fmt: skip
            configs = []
            for name, site, models, peers, offload in sites:
                secret = hub.create_device(name, site=site)  # the hub provisions its account
                url = hub.url if peers.get("serve") else f"http://127.0.0.1:{far.port}"
                cfg = agent_config(name, broker.process.port, secret=secret, hub_url=url,
                                   models=models, peers=peers, offload=offload)  # fmt: skip
                cfg["broker"] |= {"protocol": "5"}
                configs.append(cfg)
            # The gateway first: Mosquitto disconnects the clients whose role changes, so a
            # device connected when the gateway registers would miss requests sent meanwhile.
            fleet = start_agents(Fleet(broker.process, hub, agents, probe), tmp_path, configs[:1])
            hub.wait_for_gateway(agents[0].proc, timeout=30)
            start_agents(fleet, tmp_path, configs[1:])
            first: list[str] = []
            for seq in range(30):  # bounded: the site's gateway must be used once known
                first += answers(probe, "dev-a", seq, 1)
                if first[-1] == "gateway:gw-a":
                    break
            site_a = answers(probe, "dev-a", 100, 10)
            site_b = answers(probe, "dev-b", 200, 10)
        assert site_a == ["gateway:gw-a"] * 10, (first, site_a)
        assert set(site_b) == {"cloud:"}, site_b
        errors = [m.json() for m in probe.messages if m.topic.endswith("/error")]
        assert errors == [], errors
        assert_follows_contract(probe.messages)
        print(f"site A before the gateway was known: {first}; then {site_a}; site B {site_b}")
    finally:
        for a in agents:
            a.stop()
        hub.terminate()
        probe.close()
