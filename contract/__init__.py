"""The device <-> hub contract v1: MQTT topics, payloads and output shapes, the HTTP paths
devices and the broker call (`contract.http`), ids, device states and health bands,
importable without a broker.

Depends on the standard library and pydantic only, so a device, the hub, the broker's ACL
plugins and third-party tools can all share it.
"""

from contract import http
from contract.ack import Ack
from contract.base import Message, decode, encode, utcnow
from contract.command import (
    COMMAND_SPECS,
    AgentUpdateArgs,
    AgentUpdateResult,
    AnyArgs,
    Command,
    CommandName,
    CommandReply,
    CommandSpec,
    FlTrainArgs,
    FlTrainResult,
    LogsArgs,
    LogsResult,
    ModelUpdateArgs,
    ModelUpdateResult,
    PingArgs,
    PingResult,
    RebootArgs,
    RebootResult,
    RestartArgs,
    RestartResult,
    name_of,
    parse_args,
)
from contract.delivery import Delivery, stamp
from contract.enrollment import Enrollment, MqttAccess
from contract.errors import CommandError, ContractError, ErrorCode
from contract.event import Event, IntentEventData
from contract.health import (
    CPU_HEALTHY_MAX,
    LIVE_STATES,
    MEM_HEALTHY_MAX,
    RTT_HEALTHY_MS,
    DeviceState,
    Health,
    SourceHealth,
    SourceState,
)
from contract.homeassistant import (
    DEFAULT_HA_PREFIX,
    ha_discovery_filter,
    ha_discovery_topic,
    ha_node_id,
    ha_status_topic,
)
from contract.http import API_PREFIX
from contract.ids import ID_PATTERN, DeviceId, ModelId, full_model, is_id
from contract.inference import EdgeAnswer, ErrorMessage, InferResult
from contract.manifest import AgentRelease, ModelManifest
from contract.outputs import (
    Face,
    FaceDetectionOutput,
    IntentOutput,
    TabularOutput,
    WakeWordOutput,
)
from contract.peers import PEER_SERVICE, Peer, PeerOffer
from contract.status import Status
from contract.topics import (
    DEFAULT_PREFIX,
    TOPIC_SPECS,
    Kind,
    ParsedTopic,
    Topics,
    TopicSpec,
    validate_device_id,
)
from contract.twin import TwinDesired, TwinReported

__all__ = [
    "API_PREFIX",
    "COMMAND_SPECS",
    "CPU_HEALTHY_MAX",
    "DEFAULT_HA_PREFIX",
    "DEFAULT_PREFIX",
    "ID_PATTERN",
    "LIVE_STATES",
    "MEM_HEALTHY_MAX",
    "PEER_SERVICE",
    "RTT_HEALTHY_MS",
    "TOPIC_SPECS",
    "Ack",
    "AgentRelease",
    "AgentUpdateArgs",
    "AgentUpdateResult",
    "AnyArgs",
    "Command",
    "CommandError",
    "CommandName",
    "CommandReply",
    "CommandSpec",
    "ContractError",
    "Delivery",
    "DeviceId",
    "DeviceState",
    "EdgeAnswer",
    "Enrollment",
    "ErrorCode",
    "ErrorMessage",
    "Event",
    "Face",
    "FaceDetectionOutput",
    "FlTrainArgs",
    "FlTrainResult",
    "Health",
    "InferResult",
    "IntentEventData",
    "IntentOutput",
    "Kind",
    "LogsArgs",
    "LogsResult",
    "Message",
    "ModelId",
    "ModelManifest",
    "ModelUpdateArgs",
    "ModelUpdateResult",
    "MqttAccess",
    "ParsedTopic",
    "Peer",
    "PeerOffer",
    "PingArgs",
    "PingResult",
    "RebootArgs",
    "RebootResult",
    "RestartArgs",
    "RestartResult",
    "SourceHealth",
    "SourceState",
    "Status",
    "TabularOutput",
    "TopicSpec",
    "Topics",
    "TwinDesired",
    "TwinReported",
    "WakeWordOutput",
    "decode",
    "encode",
    "full_model",
    "ha_discovery_filter",
    "ha_discovery_topic",
    "ha_node_id",
    "ha_status_topic",
    "http",
    "is_id",
    "name_of",
    "parse_args",
    "stamp",
    "utcnow",
    "validate_device_id",
]
