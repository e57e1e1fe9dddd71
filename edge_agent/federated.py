"""The device's part in federated learning, and the glue for model updates.

`FederatedClient` holds this engine's data partition (`models.datasets.engine`, non-IID per
`federated.engine_index`), optionally publishes its readings as telemetry (to its own
`infer/engine-fault`, so the agent answers them like any request), and answers
`cmd/fl-train`: phase `keys` (secure aggregation: a fresh X25519 key per round, public half to
the hub), phase `train` (download the global weights over HTTP, train locally in a
thread, clip / quantize / mask the change, upload it over HTTP) and phase `unmask` (a peer
dropped out after the key exchange: reveal the secret shared with it, never with a survivor,
so the hub can remove that peer's masks from the sum: cloud_hub/federated/unmask.py).

`DeviceLearning` is what the agent holds: it wraps pipelines for model updates, runs
`fl-train` and `model-update` (their args already typed by `contract.parse_args`) as
background tasks and replies on `cmd/{name}/reply`.
"""

import asyncio
import base64
import json
import logging
import zlib
from collections.abc import Callable, Coroutine, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from contract import (
    CommandError,
    CommandName,
    CommandReply,
    ErrorCode,
    FlTrainArgs,
    FlTrainResult,
    ModelUpdateArgs,
    Topics,
    encode,
)
from edge_agent.config import AgentConfig
from edge_agent.messages import Outbound
from edge_agent.model_sync import ModelSync, Refused
from edge_agent.runner import PipelineLike

if TYPE_CHECKING:
    import httpx

    from edge_agent.lessons import Lessons
    from models.training.updates import Encoding

log = logging.getLogger(__name__)
MODEL = "engine-fault"
KEPT_ROUNDS = 4  # rounds whose secrets a device keeps for a possible `unmask`


class FederatedClient:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.device = config.device_id
        self._keys: dict[int, Any] = {}  # round -> X25519 private key (memory only)
        # round -> peer -> X25519 shared secret, kept from `train` for a possible `unmask`
        self._secrets: dict[int, dict[str, bytes]] = {}
        self.last_update: np.ndarray | None = None  # the plain change last sent (for tests)
        self.lessons: Lessons | None = None  # escalated readings with the hub's labels
        if config.federated.training_data == "escalated":
            from edge_agent import lessons  # only on a device that learns from the hub

            self.lessons = lessons.Lessons(MODEL, config.federated.lessons_max)

    @cached_property
    def data(self) -> Any:
        from models.datasets.engine import engine_data, engine_profile

        f = self.config.federated
        return engine_data(engine_profile(f.engine_index, seed=f.seed), f.records)

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        from models.datasets.engine import engine_profile, generate_records

        f = self.config.federated
        return generate_records(engine_profile(f.engine_index, seed=f.seed), f.records)

    def training_set(
        self, labels: Mapping[str, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Features and labels a round trains on (`federated.training_data`), and how many of
        the hub's labels an operator's `labels` replaced; RuntimeError when there are none yet.
        Lessons are copied on the event loop (they grow there); the partition is generated
        once, in a worker thread (`train`)."""
        if self.lessons is None:
            return self.data.x, self.data.y, 0
        x, y, corrected = self.lessons.arrays(labels)
        if not len(y):
            raise RuntimeError(
                "nothing to train on yet: no reading of this device has been labelled by the "
                f"hub (training_data `escalated` needs the {MODEL} cascade to ask the hub)"
            )
        return x, y, corrected

    def _client(self) -> "httpx.AsyncClient":
        import httpx  # only a device that trains needs it (footprint: docs/agent.md)

        hub, auth = self.config.hub.url, self.config.hub_auth
        if hub is None or auth is None:
            raise RuntimeError("federated training needs hub.url and device credentials")
        return httpx.AsyncClient(base_url=hub, auth=auth, timeout=30)

    async def handle(self, args: FlTrainArgs | Mapping[str, Any]) -> FlTrainResult:
        """Run one phase of `fl-train`. Raw args (edgefleet.bench drives clients with the
        commands' own dicts) are validated first."""
        if not isinstance(args, FlTrainArgs):
            args = FlTrainArgs.model_validate(args)
        if args.phase == "keys":
            return await self.announce_key(args)
        if args.phase == "unmask":
            return await self.unmask(args)
        return await self.train(args)

    async def unmask(self, args: FlTrainArgs) -> FlTrainResult:
        """Post the secrets shared with `args.dropped`; refused (RuntimeError) when they are
        not this round's peers, or when no other survivor would be left: then the hub could
        take every mask off this device's own update."""
        secrets = self._secrets.get(args.round_id)
        if secrets is None or not args.unmask_url:
            raise RuntimeError(f"no secure-aggregation secrets for round {args.round_id}")
        dropped = set(args.dropped)
        if not dropped or not dropped <= set(secrets):
            raise RuntimeError(f"round {args.round_id}: {sorted(dropped)} are not all my peers")
        if len(secrets) - len(dropped) < 1:
            raise RuntimeError(
                f"round {args.round_id}: refusing to unmask, no other participant is left"
            )
        body = {"secrets": {p: base64.b64encode(secrets[p]).decode() for p in sorted(dropped)}}
        async with self._client() as client:
            r = await client.post(args.unmask_url, json=body)
        r.raise_for_status()
        del self._secrets[args.round_id]
        return FlTrainResult(round_id=args.round_id, phase="unmask", upload_status=r.status_code)

    async def announce_key(self, args: FlTrainArgs) -> FlTrainResult:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        key = X25519PrivateKey.generate()
        self._keys[args.round_id] = key
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        async with self._client() as client:
            r = await client.post(
                args.keys_url, json={"public_key": base64.b64encode(public).decode()}
            )
        r.raise_for_status()
        return FlTrainResult(round_id=args.round_id, phase="keys")

    async def fetch_weights(self, url: str) -> tuple[np.ndarray, int]:
        async with self._client() as client:
            r = await client.get(url)
        r.raise_for_status()
        return np.frombuffer(r.content, "<f4").copy(), int(r.headers.get("X-Edgefleet-Step", 0))

    async def train(self, args: FlTrainArgs) -> FlTrainResult:
        if self.lessons is not None:
            x, y, corrected = self.training_set(args.labels)
        else:
            x, y, corrected = await asyncio.to_thread(self.training_set)
        weights, step = await self.fetch_weights(args.weights_url)
        body, metrics = await asyncio.to_thread(self.local_update, args, weights, x, y)
        if self.lessons is not None:
            metrics["corrected"] = corrected  # the hub's labels an operator's replaced
        async with self._client() as client:
            r = await client.post(
                args.upload_url,
                content=body,
                headers={
                    "Content-Type": "application/octet-stream",
                    "X-Edgefleet-Base-Step": str(step),
                    "X-Edgefleet-Metrics": json.dumps(metrics),
                },
            )
        answered = r.headers.get("content-type", "").startswith("application/json")
        return FlTrainResult(
            round_id=args.round_id,
            phase="train",
            upload_status=r.status_code,
            upload_bytes=len(body),
            answer=r.json() if answered else None,
        )

    def local_update(
        self, args: FlTrainArgs, weights: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[bytes, dict[str, Any]]:
        """Train from `weights` on (x, y); the encoded change and local metrics."""
        from models.training import mlp
        from models.training import updates as wire
        from models.training.engine import SHAPE

        round_id = args.round_id
        seed = zlib.crc32(f"{self.device}/{round_id}".encode())
        before = mlp.accuracy(SHAPE, weights, x, y)
        trained = mlp.train(
            SHAPE, weights, x, y,
            epochs=args.epochs, lr=args.learning_rate, batch=args.batch_size, seed=seed,
        )  # fmt: skip
        metrics = {
            "loss": round(mlp.loss(SHAPE, trained, x, y), 5),
            "accuracy": round(mlp.accuracy(SHAPE, trained, x, y), 5),
            "accuracy_before": round(before, 5),
        }
        delta = trained - weights
        if args.clip_norm:
            delta = wire.clip_l2(delta, args.clip_norm)
        self.last_update = delta
        samples = len(y)
        if args.secure:
            weight = samples if args.weight_by_samples else 1
            encoding = wire.masked_encoding(args.quantization == "int8")
            step = 0.0
            if encoding is wire.Encoding.MASKED32:
                if args.secure_range is None:
                    raise RuntimeError(
                        "int8 under secure aggregation needs the round's secure_range"
                    )
                step = wire.int8_step(args.secure_range)
            ring = wire.to_ring(delta, weight, encoding, step, np.random.default_rng(seed))
            masks = self._masks(round_id, args.peers, delta.size, encoding)
            masked = wire.apply_masks(ring, masks, self.device)
            update = wire.WireUpdate(encoding, weight, step, masked)
        elif args.quantization == "int8":
            q, scale = wire.quantize_int8(delta)
            update = wire.WireUpdate(wire.Encoding.INT8, samples, scale, q)
        else:
            update = wire.WireUpdate(wire.Encoding.FP32, samples, 0.0, delta)
        return wire.encode_update(update), metrics

    def _masks(
        self, round_id: int, peers: dict[str, str], n: int, encoding: "Encoding"
    ) -> dict[str, np.ndarray]:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

        from models.training.updates import pair_mask

        key = self._keys.pop(round_id, None)
        if key is None:
            raise RuntimeError(f"no secure-aggregation key for round {round_id}")
        secrets = {
            peer: key.exchange(X25519PublicKey.from_public_bytes(base64.b64decode(public)))
            for peer, public in peers.items()
            if peer != self.device
        }
        self._secrets[round_id] = secrets
        for old in sorted(self._secrets)[:-KEPT_ROUNDS]:  # bounded: rounds long over
            del self._secrets[old]
        return {peer: pair_mask(secret, round_id, n, encoding) for peer, secret in secrets.items()}


class DeviceLearning:
    """What the agent holds for `model-update` and `fl-train`."""

    def __init__(
        self, config: AgentConfig, topics: Topics, publish: Callable[[Outbound], None]
    ) -> None:
        self.config = config
        self.topics = topics
        self._publish = publish
        self.sync = ModelSync(config)
        self.client = FederatedClient(config) if config.federated.enabled else None
        self._tasks: set[asyncio.Task[None]] = set()
        self.busy = asyncio.Lock()  # one training at a time

    def wrap(self, pipelines: dict[str, list[PipelineLike]]) -> dict[str, list[PipelineLike]]:
        return self.sync.wrap(pipelines)

    def handle(self, cmd_id: str, args: ModelUpdateArgs | FlTrainArgs) -> None:
        """Start the command as a background task that replies when done; CommandError
        `unsupported` for `fl-train` when federated learning is not enabled here."""
        if isinstance(args, ModelUpdateArgs):
            name, job = CommandName.MODEL_UPDATE, self._update(cmd_id, args)
        elif self.client is not None:
            name, job = CommandName.FL_TRAIN, self._train(cmd_id, args, self.client)
        else:
            raise CommandError(
                ErrorCode.UNSUPPORTED, "fl-train: this device has federated learning disabled"
            )
        task = asyncio.create_task(job, name=f"cmd:{name}:{cmd_id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reply(self, name: CommandName, reply: CommandReply) -> None:
        topic = self.topics.cmd_reply(self.config.device_id, name)
        self._publish(Outbound(topic, encode(reply), 1, False, label="reply"))

    async def _update(self, cmd_id: str, args: ModelUpdateArgs) -> None:
        name, manifest = CommandName.MODEL_UPDATE, args.manifest
        try:
            result = await self.sync.apply(args)
        except Refused as exc:
            log.warning("model update refused (%s): %s", exc.reason, exc)
            why = f"{exc.reason}: {exc}"
            self._reply(name, CommandReply.failure(cmd_id, ErrorCode.COMMAND_FAILED, why))
            if manifest.model in self.sync.slots:
                version, seq = self.sync.running(manifest.model)
                await self.sync.report(
                    manifest.model,
                    {
                        "version": version,
                        "seq": seq,
                        "state": "refused",
                        "deployment_id": args.deployment_id,
                        "reason": why[:2000],
                        "refused_version": manifest.version,
                    },
                )
            return
        except Exception as exc:
            log.exception("model update failed")
            self._reply(name, CommandReply.failure(cmd_id, ErrorCode.COMMAND_FAILED, str(exc)))
            return
        self._reply(name, CommandReply.success(cmd_id, result))
        await self.sync.report(
            manifest.model,
            {
                "version": result.version,
                "seq": result.seq,
                "state": "running",
                "deployment_id": args.deployment_id,
            },
        )

    async def _train(self, cmd_id: str, args: FlTrainArgs, client: FederatedClient) -> None:
        try:
            async with self.busy:
                result = await client.handle(args)
        except Exception as exc:
            log.exception("federated training failed")
            failure = CommandReply.failure(cmd_id, ErrorCode.COMMAND_FAILED, str(exc))
            self._reply(CommandName.FL_TRAIN, failure)
            return
        self._reply(CommandName.FL_TRAIN, CommandReply.success(cmd_id, result))

    async def telemetry(self) -> None:
        """Publish the partition's readings, one per interval, to this device's own
        `infer/engine-fault` (the agent answers them: result + `fault` events)."""
        assert self.client is not None
        interval = self.config.federated.reading_interval_s or 1.0
        records = await asyncio.to_thread(lambda: self.client.records if self.client else [])
        topic = self.topics.infer(self.config.device_id, MODEL)
        for i in range(1 << 62):
            record = {k: v for k, v in records[i % len(records)].items() if k != "fault_status"}
            self._publish(Outbound(topic, json.dumps(record).encode(), 1, False, label="reading"))
            await asyncio.sleep(interval)

    def duties(self) -> list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]]:
        if self.client is not None and self.config.federated.reading_interval_s:
            return [("telemetry", self.telemetry)]
        return []
