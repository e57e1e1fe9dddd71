"""One realistic message of every payload and output model, shared by the contract tests."""

from datetime import UTC, datetime

from pydantic import BaseModel

from contract import (
    Ack,
    AgentRelease,
    AgentUpdateArgs,
    AgentUpdateResult,
    Command,
    CommandReply,
    ErrorCode,
    ErrorMessage,
    Event,
    Face,
    FaceDetectionOutput,
    FlTrainArgs,
    FlTrainResult,
    Health,
    InferResult,
    IntentEventData,
    IntentOutput,
    LogsArgs,
    LogsResult,
    ModelManifest,
    ModelUpdateArgs,
    ModelUpdateResult,
    PingArgs,
    PingResult,
    RebootArgs,
    RebootResult,
    RestartArgs,
    RestartResult,
    Status,
    TabularOutput,
    TwinDesired,
    TwinReported,
    WakeWordOutput,
)

TS = datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)  # millisecond precision: exact round trip

FACES = FaceDetectionOutput(
    faces=[Face(box=(10.0, 20.0, 110.0, 140.0), score=0.93, keypoints=[(40.0, 60.0)])],
    image_size=(640, 480),
)
WAKE = WakeWordOutput(
    detected=True, wake_word="okay_nabu", probability=0.97, probabilities={"okay_nabu": 0.97},
    duration_s=1.5, end_s=1.29,
)  # fmt: skip
TABULAR = TabularOutput(label=2, label_name="moderate", probabilities=[0.1, 0.2, 0.6, 0.1])
INTENT = IntentOutput(
    understood=True, intent="turn_on", target="light", area="kitchen",
    text="turn on the kitchen light", duration_s=1.8,
)  # fmt: skip
INTENT_DATA = IntentEventData(
    event_type="turn_on", understood=True, intent="turn_on", target="light", area="kitchen",
    text="turn on the kitchen light", score=-3.1, wake_word="okay_nabu", wake_rid="req-7",
    command_s=1.6, model_version="5.1.1", source_topic="edgefleet/v1/d1/infer/wakeword-lite/req-7",
)  # fmt: skip

SAMPLES: list[BaseModel] = [
    Status(ts=TS, state="online", agent_version="0.1.0", models=["face-detect-lite"]),
    Health(ts=TS, cpu=0.42, mem=0.3, rtt_ms=12.5, queue_depth=0, infer_ms_p50=1.1,
           offload_ratio=0.05, uptime_s=360.0, seq=36, counters={"requests": 10}),
    InferResult(ts=TS, model="face-detect-lite", model_version="1.0.0", where="edge",
                latency_ms=3.2, output=FACES.model_dump(mode="json"), rid="req-1",
                msg_id="0b5e", source_topic="edgefleet/v1/cam-1/infer/face-detect-lite/req-1"),
    ErrorMessage(ts=TS, topic="edgefleet/v1/cam-1/infer/face-detect-lite", code=ErrorCode.BAD_IMAGE,
                 error="cannot decode image: not a JPEG or PNG"),
    Event(ts=TS, kind="wakeword", model="okay-nabu", msg_id="e1",
          data=WAKE.model_dump(mode="json")),
    Command(ts=TS, cmd_id="c1", args={"model": "face-detect-full"}),
    CommandReply(ts=TS, cmd_id="c1", ok=False, error="unknown model"),
    TwinDesired(ts=TS, version={"hub": 3}, state={"health_interval_s": 10}),
    TwinReported(ts=TS, version={"hub": 3, "cam-1": 7}, state={"health_interval_s": 10}),
    Ack(ts=TS, msg_ids=["0b5e", "e1"]),
    FACES,
    WAKE,
    TABULAR,
    INTENT,
    INTENT_DATA,
]  # fmt: skip

FL_TRAIN = FlTrainArgs(
    round_id=3,
    phase="train",
    model="engine-fault",
    weights_url="/api/v1/fl/rounds/3/weights",
    upload_url="/api/v1/fl/rounds/3/updates",
    keys_url="/api/v1/fl/rounds/3/keys",
    epochs=2,
    learning_rate=0.1,
    batch_size=32,
    quantization="int8",
    clip_norm=1.0,
    seed=7,
)
MODEL_UPDATE = ModelUpdateArgs(
    manifest=ModelManifest(
        model="engine-fault", version="v2", seq=2, sha256="ab" * 32, size=1234, format="onnx"
    ),
    signature="c2lnbmF0dXJl",
    deployment_id=5,
    url="/api/v1/models/engine-fault/versions/v2/artifact",
)
AGENT_UPDATE = AgentUpdateArgs(
    release=AgentRelease(
        version="0.2.0", arch="aarch64", python="3.11", sha256="cd" * 32, size=98_765_432
    ),
    signature="c2lnbmF0dXJl",
    url="/api/v1/agent-releases/" + "cd" * 32 + "/bundle",
)
# One command and one reply of every command, by AsyncAPI message name.
COMMAND_SAMPLES: dict[str, BaseModel] = {
    "PingCommand": Command.of(PingArgs(), "p1").model_copy(update={"ts": TS}),
    "PingReply": CommandReply.success("p1", PingResult(state="running", models=["m1"])),
    "ModelUpdateCommand": Command.of(MODEL_UPDATE, "u1").model_copy(update={"ts": TS}),
    "ModelUpdateReply": CommandReply.success(
        "u1", ModelUpdateResult(model="engine-fault", version="v2", seq=2)),
    "FlTrainCommand": Command.of(FL_TRAIN, "f1").model_copy(update={"ts": TS}),
    "FlTrainReply": CommandReply.success(
        "f1", FlTrainResult(round_id=3, phase="train", upload_status=202, upload_bytes=804,
                            answer={"accepted": True})),
    "RestartCommand": Command.of(RestartArgs(), "r1").model_copy(update={"ts": TS}),
    "RestartReply": CommandReply.success("r1", RestartResult(restarting=True)),
    "LogsCommand": Command.of(LogsArgs(lines=2), "l1").model_copy(update={"ts": TS}),
    "LogsReply": CommandReply.success(
        "l1", LogsResult(lines=["12:00:00 INFO edge_agent.agent: starting -> connecting",
                                "12:00:00 INFO edge_agent.agent: connecting -> running"],
                         truncated=False)),
    "RebootCommand": Command.of(RebootArgs(), "b1").model_copy(update={"ts": TS}),
    "RebootReply": CommandReply.success("b1", RebootResult(rebooting=True)),
    "AgentUpdateCommand": Command.of(AGENT_UPDATE, "a1").model_copy(update={"ts": TS}),
    "AgentUpdateReply": CommandReply.success(
        "a1", AgentUpdateResult(version="0.2.0", previous="0.1.0")),
}  # fmt: skip
