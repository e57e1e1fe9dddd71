"""Device and model ids: the one pattern both follow, and the lite -> full model naming rule.

An id is the `{d}` of every topic, a broker user name, a registry key and a URL path segment,
so it stays short and needs no escaping anywhere.
"""

import re
from typing import Annotated

from pydantic import StringConstraints

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""1 to 64 lowercase letters, digits, `-` and `_`, starting with a letter or a digit."""
ID_RE = re.compile(ID_PATTERN)

DeviceId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A device id, for pydantic fields and FastAPI path parameters (422 when it does not match)."""
ModelId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A catalogue or registry model id; same rule as a device id."""
SHA256_PATTERN = r"^[0-9a-f]{64}$"
Sha256Hex = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
"""A SHA-256 digest as 64 lowercase hex digits: of an artifact, a bundle, a sample's bytes."""

LITE_SUFFIX = "-lite"
FULL_SUFFIX = "-full"


def is_id(value: str) -> bool:
    """True when `value` is a valid device or model id."""
    return ID_RE.fullmatch(value) is not None


def full_model(model: str) -> str:
    """The full counterpart of a light model: `x-lite` -> `x-full`; other ids are their own.

    Used where no model is configured explicitly: the model the hub runs when a pipeline is
    offloaded, and the full model a device loads for high-priority requests.
    """
    if model.endswith(LITE_SUFFIX):
        return model.removesuffix(LITE_SUFFIX) + FULL_SUFFIX
    return model
