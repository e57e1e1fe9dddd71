"""Three hub replicas started at once on one empty PostgreSQL database (real `edgefleet hub`
processes, a real Mosquitto): they migrate once, serve one signing key, a model version
registered through one downloads from every other and verifies against the key a device
pinned; exactly one is the leader, and when it is SIGKILLed another takes over.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from contract import ModelManifest
from contract.http import MODEL_ARTIFACT, SIGNING_KEY, path
from edge_agent.model_sync import verify_artifact
from edgefleet.procs import HubProcess
from tests.fixtures.brokers import BrokerProcess
from tests.fixtures.replicas import wait_for_leader

# long lane: three hub processes on PostgreSQL (~20 s); `make test` stays under 15 minutes
pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.long, pytest.mark.timeout(180)]
REPLICAS = 3
MODEL = "engine-fault"


def test_replicas_share_key_and_artifacts_and_elect_one_leader(
    postgres_database: str, mosquitto_broker: BrokerProcess, tmp_path: Path
) -> None:
    # Arrange: three replicas, each with its own data directory, started together
    hubs = [
        HubProcess(
            tmp_path / f"replica-{i}",
            mosquitto_broker.port,
            cloud_models=(),
            extra_env={"EDGEFLEET_DATABASE_URL": postgres_database},
        )
        for i in range(REPLICAS)
    ]
    with ExitStack() as stack:
        stack.callback(lambda: [hub.terminate() for hub in hubs])
        with ThreadPoolExecutor(REPLICAS) as pool:
            list(pool.map(lambda hub: hub.start(timeout=90), hubs))
        clients = [
            stack.enter_context(httpx.Client(base_url=h.url, headers=h.admin, timeout=30))
            for h in hubs
        ]
        # Execute
        keys = {c.get(path(SIGNING_KEY)).json()["public_key"] for c in clients}
        artifact = b"an onnx file, as far as the registry cares " * 1000
        created = clients[0].post(path(f"/models/{MODEL}/versions"), content=artifact)
        assert created.status_code == 201, created.text
        version = created.json()
        artifact_url = path(MODEL_ARTIFACT, model=MODEL, version=version["version"])
        downloads = [c.get(artifact_url) for c in clients[1:]]
        # Assert: one key; the artifact from every other replica, signed by it
        assert len(keys) == 1
        (public_key,) = keys
        manifest = ModelManifest(
            **{k: version[k] for k in ("model", "version", "seq", "sha256", "size", "format")}
        )
        for download in downloads:
            assert download.status_code == 200, download.text
            assert download.content == artifact
            signature = download.headers["X-Edgefleet-Signature"]
            verify_artifact(download.content, manifest, signature, public_key, running_seq=None)
        assert not any((h.workdir / "registry_ed25519.pem").exists() for h in hubs)
        engine = create_engine(postgres_database)
        try:
            with engine.connect() as conn:
                migrated = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        finally:
            engine.dispose()
        assert migrated == 1

        # one leader; SIGKILLed, another takes over within a few ticks (fl_tick_s 0.5 s)
        first = wait_for_leader(hubs, 30)
        hubs[first].kill()
        killed = time.monotonic()
        second = wait_for_leader(hubs, 30)
        print(f"leader failover after SIGKILL: {time.monotonic() - killed:.2f} s")
        assert second != first
