"""Whisper's input: an 80-band log-mel spectrogram of 30 s of 16 kHz audio, in numpy.

As OpenAI's Whisper computes it (the model was trained on exactly this): a periodic Hann window
of 400 samples every 160 (10 ms), centred frames with reflected edges, power spectrum, the
Slaney-normalised mel filter bank (librosa's default) up to 8 kHz, log10 floored at 1e-10 and
at 8 below the loudest value, then (x + 4) / 4. Audio is padded with silence to 30 s, the
window the encoder always reads, and the last frame dropped.
"""

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80
CHUNK_SAMPLES = 30 * SAMPLE_RATE
FRAMES = CHUNK_SAMPLES // HOP  # 3,000


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    mel = 3.0 * hz / 200.0
    log_part = hz >= 1000.0
    mel[log_part] = 15.0 + np.log(hz[log_part] / 1000.0) * 27.0 / np.log(6.4)
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    hz = 200.0 * mel / 3.0
    log_part = mel >= 15.0
    hz[log_part] = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel[log_part] - 15.0))
    return hz


def mel_filters(n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, N_FFT // 2 + 1) triangular filters, each scaled to unit area (Slaney)."""
    bins = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.array([SAMPLE_RATE / 2.0]))[0], n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    filters: np.ndarray = (weights * (2.0 / (upper - lower))).astype(np.float32)
    return filters


_FILTERS = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """int16 (or float in [-1, 1]) samples, at most 30 s -> (1, N_MELS, FRAMES) float32."""
    audio = samples.astype(np.float32)
    if samples.dtype == np.int16:
        audio /= 32768.0
    audio = np.pad(audio[:CHUNK_SAMPLES], (0, CHUNK_SAMPLES - min(len(audio), CHUNK_SAMPLES)))
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:FRAMES]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    spec = np.log10(np.maximum(_FILTERS @ power.T, 1e-10))
    spec = np.maximum(spec, spec.max() - 8.0)
    features: np.ndarray = ((spec + 4.0) / 4.0)[None].astype(np.float32)
    return features
