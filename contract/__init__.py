"""The MQTT topic contract v1: topics, payloads and output shapes, importable without a broker.

Depends on the standard library and pydantic only, so a device, the hub, the broker's ACL
plugins and third-party tools can all share it.
"""

from contract.ack import Ack
from contract.base import Message, decode, encode, utcnow
from contract.command import Command, CommandReply
from contract.delivery import Delivery, stamp
from contract.errors import ContractError, ErrorCode
from contract.event import Event
from contract.health import Health
from contract.inference import ErrorMessage, InferResult
from contract.outputs import Face, FaceDetectionOutput, TabularOutput, WakeWordOutput
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
