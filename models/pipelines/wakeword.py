"""microWakeWord (`wakeword-lite`): MicroFrontend features -> streaming int8 models on LiteRT.

Follows pymicro_wakeword/microwakeword.py: 10 ms (160-sample) feature steps of 40 features,
`stride` (3) frames per invoke quantised as round(f / scale + zero_point), uint8 output
dequantised, and a detection when the mean over `sliding_window_size` probabilities exceeds
the model's `probability_cutoff` (both from the model's .json). State is reset per clip with
LiteRT's `reset_all_variables()` instead of re-creating the interpreter.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymicro_features import MicroFrontend

from contract.outputs import WakeWordOutput
from models.catalogue import ModelSpec
from models.pipelines.base import Pipeline
from models.processing import voice
from models.runtimes import Runtime, load_runtime

SAMPLES_PER_STEP = 160  # 10 ms at 16 kHz
BYTES_PER_STEP = SAMPLES_PER_STEP * 2


@dataclass(frozen=True, slots=True)
class WakeWordModel:
    """One microWakeWord model with its cut-off and quantisation."""

    word: str
    runtime: Runtime
    cutoff: float
    window: int
    stride: int
    in_scale: float
    in_zero: int
    in_dtype: np.dtype[np.generic]
    out_scale: float
    out_zero: int


def microfrontend_features(samples: np.ndarray) -> np.ndarray:
    """int16 samples -> (frames, 40) float32 features, one per 10 ms (as MicroWakeWordFeatures)."""
    frontend = MicroFrontend()
    audio = samples.astype("<i2").tobytes()
    features: list[list[float]] = []
    index = 0
    while index + BYTES_PER_STEP <= len(audio):
        result = frontend.process_samples(audio[index : index + BYTES_PER_STEP])
        index += result.samples_read * 2
        if result.features:
            features.append(result.features)
    return np.asarray(features, dtype=np.float32).reshape(-1, 40)


def first_above(scores: np.ndarray, cutoff: float, step_s: float) -> float | None:
    """When `scores` (one per `step_s` of audio, the first covering [0, step_s)) first exceed
    `cutoff`: the end of that step, in seconds from the clip's start; None if they never do."""
    above = np.flatnonzero(scores > cutoff)
    return float((above[0] + 1) * step_s) if above.size else None


def sliding_means(probabilities: np.ndarray, window: int) -> np.ndarray:
    """Mean of each `window` consecutive probabilities, aligned on the window's last one
    (0 while the window is not yet full)."""
    means = np.zeros(len(probabilities))
    if len(probabilities) >= window:
        sums = np.convolve(probabilities, np.ones(window), mode="valid")
        means[window - 1 :] = sums / window
    return means


def wakeword_output(
    maxima: dict[str, float],
    cutoffs: dict[str, float],
    duration_s: float,
    ends: dict[str, float | None] | None = None,
) -> WakeWordOutput:
    """Shared by both wake-word pipelines: the best word above its cut-off, if any, and when
    its detection fired (`ends`: per word, see `first_above`)."""
    fired = {w: p for w, p in maxima.items() if p > cutoffs[w]}
    pool = fired or maxima
    best = max(pool, key=lambda w: pool[w], default=None)
    return WakeWordOutput(
        detected=bool(fired),
        wake_word=best if fired else None,
        probability=min(1.0, max(0.0, pool[best])) if best else 0.0,
        probabilities={w: min(1.0, max(0.0, p)) for w, p in maxima.items()},
        duration_s=duration_s,
        end_s=(ends or {}).get(best) if fired and best else None,
    )


class MicroWakeWordPipeline(
    Pipeline[np.ndarray, np.ndarray, dict[str, np.ndarray], WakeWordOutput]
):
    """WAV / raw s16le bytes -> which of the catalogue's wake words was said, if any."""

    def __init__(self, spec: ModelSpec, paths: dict[str, Path], num_threads: int = 1) -> None:
        super().__init__(spec, paths, num_threads)
        self.max_seconds = spec.param("max_seconds", voice.MAX_SECONDS)
        self.models = [self._load(word, paths, num_threads) for word in spec.labels]

    @staticmethod
    def _load(word: str, paths: dict[str, Path], num_threads: int) -> WakeWordModel:
        config = json.loads(paths[f"{word}.json"].read_text(encoding="utf-8"))["micro"]
        runtime = load_runtime(paths[f"{word}.tflite"], num_threads=num_threads)
        inp, out = runtime.inputs[0], runtime.outputs[0]
        return WakeWordModel(
            word=word,
            runtime=runtime,
            cutoff=float(config["probability_cutoff"]),
            window=int(config["sliding_window_size"]),
            stride=inp.shape[1],
            in_scale=inp.scale,
            in_zero=inp.zero_point,
            in_dtype=inp.dtype,
            out_scale=out.scale,
            out_zero=out.zero_point,
        )

    def decode(self, payload: bytes) -> np.ndarray:
        return voice.decode_audio(payload, self.max_seconds)

    def preprocess(self, decoded: np.ndarray) -> np.ndarray:
        return microfrontend_features(decoded)

    def infer(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {m.word: self._probabilities(m, inputs) for m in self.models}

    @staticmethod
    def _probabilities(model: WakeWordModel, features: np.ndarray) -> np.ndarray:
        steps = len(features) // model.stride  # a trailing partial stride is never invoked
        info = np.iinfo(model.in_dtype)  # type: ignore[type-var]
        quantised = np.clip(
            np.round(features[: steps * model.stride] / model.in_scale + model.in_zero),
            info.min,
            info.max,
        ).astype(model.in_dtype)
        blocks = quantised.reshape(steps, 1, model.stride, features.shape[1])
        model.runtime.reset()
        invoke = model.runtime.invoke
        raw = np.array([invoke(block)[0].item() for block in blocks], dtype=np.float32)
        return (raw - model.out_zero) * model.out_scale

    def postprocess(self, raw: dict[str, np.ndarray], decoded: np.ndarray) -> WakeWordOutput:
        means = {m.word: sliding_means(raw[m.word], m.window) for m in self.models}
        maxima = {m.word: float(means[m.word].max(initial=0.0)) for m in self.models}
        cutoffs = {m.word: m.cutoff for m in self.models}
        step_s = SAMPLES_PER_STEP / voice.SAMPLE_RATE  # per feature frame; `stride` per score
        ends = {
            m.word: first_above(means[m.word], m.cutoff, m.stride * step_s) for m in self.models
        }
        out = wakeword_output(maxima, cutoffs, len(decoded) / voice.SAMPLE_RATE, ends)
        head = self.serving_head
        if head is None:
            return out
        from models.training.wake_doubt import doubt_features

        return out.model_copy(update={"doubt": head.doubt(doubt_features(out))})
