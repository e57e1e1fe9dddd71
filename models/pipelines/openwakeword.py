"""openWakeWord (`wakeword-full`): melspectrogram -> speech embedding -> per-word heads.

Follows pyopen_wakeword/openwakeword.py exactly: mel windows of 1,760 samples every 80 ms
(1,280 samples) give 8 frames of 32 mels each, transformed as mel / 10 + 2; an embedding
(96) every 8 frames over 76 frames; each head scores 16 consecutive embeddings.

That library resets by pretending 8 s of silence precede the audio (~270 ms of work after
every `reset()`). All three models are stateless, and windows that see only that silence
always give the same output, so those constants are computed once at load; a clip then costs
only the windows that touch its samples. Results equal the library's streaming run on the
same clip (tests/models/test_wakeword.py), the clip being padded with silence to whole chunks.
"""

from pathlib import Path

import numpy as np

from contract.outputs import WakeWordOutput
from models.catalogue import ModelSpec
from models.pipelines.base import Pipeline
from models.pipelines.wakeword import first_above, wakeword_output
from models.processing import voice
from models.runtimes import load_runtime

CHUNK = 1280  # 80 ms
MEL_SAMPLES = 1760
MELS_PER_CHUNK = 8
NUM_MELS = 32
EMB_FRAMES = 76
EMB_STEP = 8
EMB_FEATURES = 96
CONTEXT_CHUNKS = 10  # silent mel windows kept before a clip: >= 76 / 8 frames


class OpenWakeWordPipeline(Pipeline[np.ndarray, np.ndarray, dict[str, np.ndarray], WakeWordOutput]):
    """WAV / raw s16le bytes -> which of the catalogue's wake words was said, if any."""

    def __init__(self, spec: ModelSpec, paths: dict[str, Path], num_threads: int = 1) -> None:
        super().__init__(spec, paths, num_threads)
        self.max_seconds = spec.param("max_seconds", voice.MAX_SECONDS)
        threshold = spec.param("threshold", 0.5)
        self.cutoffs = {w: spec.param(f"threshold_{w}", threshold) for w in spec.labels}
        self.mel = load_runtime(
            paths["melspectrogram.tflite"], num_threads, input_shapes=[(1, MEL_SAMPLES)]
        )
        self.embedding = load_runtime(
            paths["embedding_model.tflite"],
            num_threads,
            input_shapes=[(1, EMB_FRAMES, NUM_MELS, 1)],
        )
        self.heads = {w: load_runtime(paths[f"{w}.tflite"], num_threads) for w in spec.labels}
        self.head_windows = {w: h.inputs[0].shape[1] for w, h in self.heads.items()}
        # outputs of windows that see only the leading silence
        self.silent_mels = self._mels(np.zeros(MEL_SAMPLES, np.float32))
        self.silent_embedding = self._embed(np.tile(self.silent_mels, (10, 1))[:EMB_FRAMES])
        self.silent_probability = {
            w: self._score(w, np.tile(self.silent_embedding, (n, 1)))
            for w, n in self.head_windows.items()
        }

    def _mels(self, window: np.ndarray) -> np.ndarray:
        out = self.mel.invoke(window.reshape(1, MEL_SAMPLES))[0]
        return out.reshape(MELS_PER_CHUNK, NUM_MELS) / 10.0 + 2.0

    def _embed(self, frames: np.ndarray) -> np.ndarray:
        tensor = frames.reshape(1, EMB_FRAMES, NUM_MELS, 1).astype(np.float32)
        return self.embedding.invoke(tensor)[0].reshape(EMB_FEATURES)

    def _score(self, word: str, embeddings: np.ndarray) -> float:
        tensor = embeddings.reshape(1, -1, EMB_FEATURES).astype(np.float32)
        return float(self.heads[word].invoke(tensor)[0].item())

    def decode(self, payload: bytes) -> np.ndarray:
        return voice.decode_audio(payload, self.max_seconds)

    def preprocess(self, decoded: np.ndarray) -> np.ndarray:
        """Samples -> float32 audio from one chunk before the clip, padded to whole windows."""
        samples = decoded.astype(np.float32)
        chunks = -(-(len(samples) + CHUNK - MEL_SAMPLES) // CHUNK) + 1  # windows covering all
        audio = np.zeros(MEL_SAMPLES + (chunks - 1) * CHUNK, np.float32)
        audio[CHUNK : CHUNK + len(samples)] = samples
        return audio

    def embeddings(self, inputs: np.ndarray) -> np.ndarray:
        """The speech embeddings (n x 96) of a preprocessed clip, one every 80 ms; what the
        heads score, and what `wakeword-cloud`'s verifier reads (models/pipelines/verifier.py)."""
        windows = (len(inputs) - MEL_SAMPLES) // CHUNK + 1
        mels = [np.tile(self.silent_mels, (CONTEXT_CHUNKS, 1))]
        mels += [self._mels(inputs[k * CHUNK : k * CHUNK + MEL_SAMPLES]) for k in range(windows)]
        frames = np.concatenate(mels)
        # embedding windows every 8 frames; the first sees only silence
        starts = range(EMB_STEP, len(frames) - EMB_FRAMES + 1, EMB_STEP)
        return np.array([self._embed(frames[s : s + EMB_FRAMES]) for s in starts], np.float32)

    def infer(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        embeddings = self.embeddings(inputs)
        probabilities: dict[str, np.ndarray] = {}
        for word, n in self.head_windows.items():
            stack = np.concatenate([np.tile(self.silent_embedding, (n - 1, 1)), embeddings])
            scores = [self._score(word, stack[i : i + n]) for i in range(len(stack) - n + 1)]
            probabilities[word] = np.array([self.silent_probability[word], *scores], np.float32)
        return probabilities

    def postprocess(self, raw: dict[str, np.ndarray], decoded: np.ndarray) -> WakeWordOutput:
        maxima = {w: float(p.max()) for w, p in raw.items()}
        # raw[w][0] scores the silence before the clip, raw[w][k] the k-th 80 ms chunk
        step_s = CHUNK / voice.SAMPLE_RATE
        ends = {w: first_above(p[1:], self.cutoffs[w], step_s) for w, p in raw.items()}
        return wakeword_output(maxima, self.cutoffs, len(decoded) / voice.SAMPLE_RATE, ends)
