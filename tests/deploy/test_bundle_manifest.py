"""deploy/bundle/manifest.py: a bundle's target read from a path, an open file or its bytes
(the hub reads uploaded agent releases in memory), and every way of not being a bundle."""

import io
from pathlib import Path

import pytest

from deploy.bundle.manifest import BundleTarget, ManifestError, read_target, read_target_from
from tests.fixtures.bundles import bundle_bytes

TARGET = BundleTarget("1.4.0", "x86_64", "3.11")
BUNDLE = bundle_bytes(version="1.4.0", arch="x86_64", python="3.11", payload=1000)


def test_the_same_target_from_a_path_a_file_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "b.tar.gz"
    path.write_bytes(BUNDLE)
    assert read_target(path) == TARGET
    assert read_target_from(io.BytesIO(BUNDLE)) == TARGET
    assert read_target_from(BUNDLE) == TARGET


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not a tarball at all", "the upload: not a bundle (.tar.gz)"),
        (BUNDLE[: len(BUNDLE) // 2], "the upload: not a bundle (.tar.gz)"),
        (bundle_bytes(manifest=b"{nope"), "the upload: manifest.json is not JSON"),
        (bundle_bytes(manifest={"version": "1"}), "lacks version/arch/python"),
        (bundle_bytes(manifest=b"[1, 2]"), "lacks version/arch/python"),
    ],
)
def test_what_is_not_a_bundle_is_named(body: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_target_from(body, "the upload")


def test_a_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not a bundle"):
        read_target(tmp_path / "none.tar.gz")
