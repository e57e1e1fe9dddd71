"""The hub's answer to an enrollment (`POST` contract.http.ENROLL): a device's credentials,
shown once, and where its broker is. `edgefleet provision` writes it into the agent config."""

from pydantic import BaseModel, ConfigDict, Field

from contract.ids import DeviceId


class MqttAccess(BaseModel):
    """Where and as whom the device connects to the broker."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str
    port: int = Field(ge=1, le=65535)
    username: str = Field(description="the device id")
    topic_prefix: str


class Enrollment(BaseModel):
    """The device authenticates with `device_id` + `device_secret`: HTTP Basic on the hub API,
    username/password on the broker. Unknown fields are ignored, so the hub may add some."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    device_id: DeviceId
    device_secret: str
    hub_url: str = Field(description="base URL of the hub's API, without the API prefix")
    mqtt: MqttAccess
    signing_key: str | None = Field(
        default=None,
        description="the hub's Ed25519 public key, base64: the device pins it (model_sync."
        "public_key) and verifies every model and agent release with it",
    )
