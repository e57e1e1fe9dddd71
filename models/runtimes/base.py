"""The one interface every runtime plugin implements, so a pipeline does not care which."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """Name, shape, dtype and (for quantised tensors) scale / zero point of one tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[np.generic]
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0


class Runtime(ABC):
    """A loaded model. Not thread-safe: one thread at a time, like a Pipeline."""

    path: Path

    @property
    @abstractmethod
    def inputs(self) -> list[TensorInfo]: ...

    @property
    @abstractmethod
    def outputs(self) -> list[TensorInfo]: ...

    @abstractmethod
    def invoke(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run the model on one array per input; returns one fresh array per output."""

    def reset(self) -> None:  # noqa: B027 - stateless runtimes have nothing to clear
        """Clear streaming state (variables of stateful models); a no-op for stateless ones."""

    def close(self) -> None:  # noqa: B027
        """Release native resources early (optional)."""
