"""The MQTT topic contract v1: topics, payloads and output shapes, importable without a broker.

Depends on the standard library and pydantic only, so a device, the hub, the broker's ACL
plugins and third-party tools can all share it.
"""

from broker.contract.ack import Ack
from broker.contract.base import Message, decode, encode, utcnow
from broker.contract.command import Command, CommandReply
from broker.contract.delivery import Delivery, stamp
from broker.contract.errors import ContractError, ErrorCode
from broker.contract.event import Event
from broker.contract.health import Health
from broker.contract.inference import ErrorMessage, InferResult
from broker.contract.outputs import Face, FaceDetectionOutput, TabularOutput, WakeWordOutput
from broker.contract.status import Status
from broker.contract.topics import (
    DEFAULT_PREFIX,
    TOPIC_SPECS,
    Kind,
    ParsedTopic,
    Topics,
    TopicSpec,
    validate_device_id,
)
from broker.contract.twin import TwinDesired, TwinReported

__all__ = [
    "DEFAULT_PREFIX",
    "TOPIC_SPECS",
    "Ack",
    "Command",
    "CommandReply",
    "ContractError",
    "Delivery",
    "ErrorCode",
    "ErrorMessage",
    "Event",
    "Face",
    "FaceDetectionOutput",
    "Health",
    "InferResult",
    "Kind",
    "Message",
    "ParsedTopic",
    "Status",
    "TabularOutput",
    "TopicSpec",
    "Topics",
    "TwinDesired",
    "TwinReported",
    "WakeWordOutput",
    "decode",
    "encode",
    "stamp",
    "utcnow",
    "validate_device_id",
]
