"""Agent releases: signed agent bundles, and the request that sends one to a device."""

from datetime import datetime

from pydantic import BaseModel, Field

from cloud_hub.schemas.common import RequestModel
from contract.manifest import PYTHON_VERSION, RELEASE_VERSION, AgentRelease
from deploy.bundle.manifest import ARCHES

ARCH = "^(" + "|".join(ARCHES) + ")$"


class AgentReleasePublic(AgentRelease):
    """A stored release: what an `agent-update` command carries (version, arch, python,
    sha256, size), its signature, and where devices download the bundle."""

    signature: str = Field(
        description="the hub's Ed25519 signature of the release (version, arch, python, "
        "sha256, size; domain `edgefleet-agent-release-v1`), base64"
    )
    note: str | None
    created_at: datetime
    download_url: str = Field(description="GET with device credentials (or an admin key)")


class AgentUpdateRequest(RequestModel):
    """Which release to install: a version is built once per arch and Python."""

    version: str = Field(pattern=RELEASE_VERSION, examples=["1.4.0"])
    arch: str = Field(pattern=ARCH, examples=["aarch64"])
    python: str = Field(pattern=PYTHON_VERSION, examples=["3.11"])


class AgentUpdateAccepted(BaseModel):
    """The command went out; the device replies once it runs the new version (or rolled back):
    the reply shows in `GET /devices/{id}/commands` under this `cmd_id`."""

    device_id: str
    cmd_id: str
    release: AgentReleasePublic
