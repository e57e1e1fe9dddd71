"""`Pipeline`: decode -> preprocess -> infer -> postprocess, one implementation per file."""

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from models.catalogue import ModelSpec
from models.training.doubt import DoubtHead, load_head

X = TypeVar("X")  # decoded input
I = TypeVar("I")  # noqa: E741 - model inputs
R = TypeVar("R")  # raw model outputs
O = TypeVar("O", bound=BaseModel)  # noqa: E741 - contract output


class Pipeline(ABC, Generic[X, I, R, O]):
    """One loaded model with its pre/post-processing. Used by one thread at a time.

    Bad input raises `models.errors.InputError(code, message)` from `decode`.
    """

    def __init__(self, spec: ModelSpec, paths: dict[str, Path], num_threads: int = 1) -> None:
        self.spec = spec
        self.model_id = spec.id
        self.version = spec.version
        self.task = spec.task
        self.size_bytes = spec.size_bytes
        self.paths = paths
        self.num_threads = num_threads
        # when to ask the hub (models/training/doubt.py); the subclass computes its features
        self.doubt_head: DoubtHead | None = (
            None if spec.doubt_head is None else load_head(spec.id, spec.version, spec.doubt_head)
        )

    @property
    def serving_head(self) -> DoubtHead | None:
        """The doubt head, if it was trained for the version this pipeline serves (a registry
        version of the model answers without one)."""
        head = self.doubt_head
        return head if head is not None and head.version == self.version else None

    @abstractmethod
    def decode(self, payload: bytes) -> X:
        """Raw MQTT/HTTP payload -> decoded input (image, samples...)."""

    @abstractmethod
    def preprocess(self, decoded: X) -> I:
        """Decoded input -> model input tensors/features."""

    @abstractmethod
    def infer(self, inputs: I) -> R:
        """Run the runtime(s)."""

    @abstractmethod
    def postprocess(self, raw: R, decoded: X) -> O:
        """Raw outputs -> the contract's output model."""

    def run(self, payload: bytes) -> O:
        decoded = self.decode(payload)
        return self.postprocess(self.infer(self.preprocess(decoded)), decoded)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id} {self.version}>"
