"""Artifacts stored by content: `<root>/<sha256[:2]>/<sha256>`, written atomically."""

import hashlib
from pathlib import Path

from cloud_hub.core.errors import NotFound
from models.files import write_atomic


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        path = self.path(sha)
        if not path.exists():
            write_atomic(path, content)
        return sha

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"artifact {sha256} is missing from the store", code="artifact_missing"
            ) from None
