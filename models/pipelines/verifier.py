"""The hub's wake-word verifier (`wakeword-cloud`): a small classifier over openWakeWord's
frozen speech embeddings that says which wake phrase a clip holds, or none.

openWakeWord's own per-word heads (`wakeword-full`) find fewer of our wake phrases than the
device's microWakeWord and cannot tell near misses apart; its melspectrogram and embedding
models are general speech features, though. Per clip the verifier pools the embeddings (mean,
maximum and standard deviation over time: 3 x 96 numbers) and an MLP trained here
(`models.training.wake_verifier`) classifies them into {none, okay_nabu, alexa, hey_mycroft}.
The MLP is an ONNX file like the engine models, so federated rounds can move its parameters.
"""

from pathlib import Path
from typing import Any

import numpy as np

from contract.outputs import WakeWordOutput
from models.catalogue import ModelSpec
from models.errors import CatalogueError
from models.pipelines.base import Pipeline
from models.pipelines.openwakeword import OpenWakeWordPipeline
from models.processing import voice
from models.runtimes import load_runtime

NONE = "none"
"""The class of a clip that holds no wake phrase: the head's first output."""


def clip_features(embedder: OpenWakeWordPipeline, samples: np.ndarray) -> np.ndarray:
    """A clip's 288 features: mean, maximum and standard deviation of its embeddings."""
    embeddings = embedder.embeddings(embedder.preprocess(samples))
    return np.concatenate([embeddings.mean(0), embeddings.max(0), embeddings.std(0)]).astype(
        np.float32
    )


class WakeVerifierPipeline(Pipeline[np.ndarray, np.ndarray, np.ndarray, WakeWordOutput]):
    """WAV / raw s16le bytes -> which of the catalogue's wake words was said, if any."""

    def __init__(
        self,
        spec: ModelSpec,
        paths: dict[str, Path],
        num_threads: int = 1,
        members: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, paths, num_threads)
        embedders = [m for m in (members or {}).values() if isinstance(m, OpenWakeWordPipeline)]
        if len(embedders) != 1:
            raise CatalogueError(f"model {spec.id}: needs one openwakeword model in `members`")
        self.embedder = embedders[0]
        path = next(iter(paths.values()))
        self.head = load_runtime(path, num_threads=num_threads)
        self.size_bytes = path.stat().st_size + self.embedder.size_bytes
        self.max_seconds = spec.param("max_seconds", voice.MAX_SECONDS)
        self.none_max = spec.param("none_max", 0.99)

    def decode(self, payload: bytes) -> np.ndarray:
        return voice.decode_audio(payload, self.max_seconds)

    def preprocess(self, decoded: np.ndarray) -> np.ndarray:
        return clip_features(self.embedder, decoded).reshape(1, -1)

    def infer(self, inputs: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.head.invoke(inputs)[0][0]
        return out

    def postprocess(self, raw: np.ndarray, decoded: np.ndarray) -> WakeWordOutput:
        """A wake phrase was said unless the head is sure it was not (`none` above the
        catalogue's `none_max`): the head is over-confident on voices it never heard, so its
        `none` must be near-certain to count; then the likeliest word is the one said."""
        # outputs: none, then the catalogue's labels in order
        words = {w: min(1.0, max(0.0, float(raw[i + 1]))) for i, w in enumerate(self.spec.labels)}
        best = max(words, key=lambda w: words[w])
        detected = float(raw[0]) <= self.none_max
        return WakeWordOutput(
            detected=detected,
            wake_word=best if detected else None,
            probability=words[best],
            probabilities=words,
            duration_s=len(decoded) / voice.SAMPLE_RATE,
        )
