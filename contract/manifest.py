"""The manifest of a model version: what the hub signs (Ed25519) and a device verifies, with
the key it pinned, before it loads an artifact (models/training/manifest.py signs and checks).
"""

import json

from pydantic import BaseModel, ConfigDict, Field

from contract.ids import Sha256Hex

SIGNING_DOMAIN = b"edgefleet-model-manifest-v1\n"
"""Prefix of the signed bytes, so a manifest signature can never verify anything else."""


class ModelManifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1, description="model id (catalogue and registry)")
    version: str
    seq: int = Field(ge=0, description="grows per model; a device refuses one not above its own")
    sha256: Sha256Hex = Field(description="of the artifact, hex")
    size: int = Field(ge=0, description="of the artifact, bytes")
    format: str = Field(description="artifact format: onnx or tflite")

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers: the domain, then the manifest fields as compact
        JSON with sorted keys (only the manifest's own fields, also in a subclass)."""
        fields = {name: getattr(self, name) for name in ModelManifest.model_fields}
        return SIGNING_DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


RELEASE_SIGNING_DOMAIN = b"edgefleet-agent-release-v1\n"
RELEASE_VERSION = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
"""A version a device can name a directory after (`releases/<version>/`): no `/`, no `..`
at the start, nothing a shell would expand."""
PYTHON_VERSION = r"^3\.[0-9]{1,2}$"
"""Prefix of a release signature: never valid as a model manifest's, nor the other way round."""


class AgentRelease(BaseModel):
    """An agent software release (a bundle tarball from `edgefleet bundle`): what the hub signs
    and a device verifies before it installs a new version of itself (docs/agent-updates.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str = Field(pattern=RELEASE_VERSION, description="the agent version it installs")
    arch: str = Field(description="CPU the wheels are for: aarch64, armv7l or x86_64")
    python: str = Field(pattern=PYTHON_VERSION, description="Python major.minor of the wheels")
    sha256: Sha256Hex = Field(description="of the bundle tarball, hex")
    size: int = Field(ge=1, description="of the bundle tarball, bytes")

    def signed_bytes(self) -> bytes:
        fields = {name: getattr(self, name) for name in AgentRelease.model_fields}
        return (
            RELEASE_SIGNING_DOMAIN
            + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        )
