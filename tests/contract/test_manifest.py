"""contract/manifest.py: the signed bytes of a model manifest never change."""

import hashlib

import pytest
from pydantic import ValidationError

from cloud_hub.schemas.registry import VersionPublic
from contract import ModelManifest

SHA = hashlib.sha256(b"model bytes").hexdigest()
MANIFEST = ModelManifest(
    model="engine-fault", version="v2", seq=2, sha256=SHA, size=11, format="onnx"
)


def test_signed_bytes_are_the_v1_form() -> None:
    # Artifacts signed before the manifest moved into the contract must still verify.
    expected = (
        b"edgefleet-model-manifest-v1\n"
        b'{"format":"onnx","model":"engine-fault","seq":2,"sha256":"'
        + SHA.encode()
        + b'","size":11,"version":"v2"}'
    )
    assert MANIFEST.signed_bytes() == expected


def test_the_hubs_version_record_is_a_manifest_signing_the_same_bytes() -> None:
    version = VersionPublic(
        **MANIFEST.model_dump(),
        id=1,
        parent=None,
        signature="s",
        metrics={},
        created_by_round=None,
        note=None,
        created_at="2026-01-01T00:00:00Z",
        download_url="/x",
    )
    assert isinstance(version, ModelManifest)
    assert version.signed_bytes() == MANIFEST.signed_bytes()


def test_a_device_reads_what_the_hub_sends() -> None:
    assert ModelManifest.model_validate({**MANIFEST.model_dump(), "extra": 1}) == MANIFEST


@pytest.mark.parametrize(
    ("field", "value"),
    [("sha256", "abc"), ("sha256", SHA.upper()), ("seq", -1), ("size", -1), ("model", "")],
)
def test_a_malformed_manifest_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        ModelManifest.model_validate({**MANIFEST.model_dump(), field: value})
