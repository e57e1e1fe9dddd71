"""The hub's voice-command recogniser (`voice-command`): a spoken command -> its intent.

`pocketsphinx` decodes the clip against a grammar of the fleet's commands
(models/processing/commands.py) with the en-US acoustic model and pronunciation dictionary its
wheel ships; the transcript is then read into action, device and area. A clip the grammar
cannot explain ends in a partial transcript ("turn on"), which is reported as not understood
rather than guessed. So is a command whose worst-heard word fits the acoustic model poorly
(`min_word_score`): a grammar makes the recogniser pick the nearest command for anything it
hears, and the per-frame acoustic score of each word is what tells a command that was said from
one that was merely the nearest.
"""

import math
from pathlib import Path

import numpy as np

from contract.outputs import IntentOutput
from models.catalogue import ModelSpec
from models.errors import CatalogueError
from models.pipelines.base import Pipeline
from models.processing import voice
from models.processing.commands import DEFAULT_COMMANDS, CommandSet, Transcript, intent_output

DICTIONARY = "cmudict-en-us.dict"
ACOUSTIC_FILES = (
    "mdef",
    "means",
    "variances",
    "transition_matrices",
    "sendump",
    "feat.params",
    "noisedict",
)
FLOOR_DB = 40.0
"""Level of the noise floor added under the speech, dB below its power. Exact digital silence
(synthesised or gated audio) has no spectrum, and the recogniser's silence model and running
cepstral mean then mislead it (clean clips fared far worse than noisy ones without it,
docs/voice-commands.md); a microphone's own noise is usually above this floor already."""

MIN_WORD_SCORE = -6.0
"""Default `min_word_score` (a catalogue `params` entry overrides it): chosen on `edgefleet bench
intent`, it turns most wrong intents into "not understood" at the cost of some right ones
(docs/voice-commands.md)."""


class SpeechIntentPipeline(Pipeline[np.ndarray, bytes, Transcript, IntentOutput]):
    """WAV / raw s16le bytes (the words after the wake phrase) -> the command's intent."""

    def __init__(
        self,
        spec: ModelSpec,
        paths: dict[str, Path],
        num_threads: int = 1,
        commands: CommandSet = DEFAULT_COMMANDS,
    ) -> None:
        super().__init__(spec, paths, num_threads)
        missing = [n for n in (DICTIONARY, *ACOUSTIC_FILES) if n not in paths]
        if missing:
            raise CatalogueError(f"model {spec.id}: files {missing} are not in the catalogue")
        from pocketsphinx import Config, Decoder  # the hub's dependency, not a device's

        config = Config(hmm=str(paths["mdef"].parent), dict=str(paths[DICTIONARY]), lm=None)
        config["logfn"] = "/dev/null"
        self.decoder = Decoder(config)
        unknown = sorted(w for w in commands.words() if self.decoder.lookup_word(w) is None)
        if unknown:
            raise CatalogueError(f"model {spec.id}: words {unknown} are not in {DICTIONARY}")
        self.decoder.add_jsgf_string("commands", commands.jsgf())
        self.decoder.activate_search("commands")
        self._cmn_init = self.decoder.get_cmn(False)
        self.commands = commands
        self.max_seconds = spec.param("max_seconds", voice.MAX_SECONDS)
        self.min_word_score = spec.param("min_word_score", MIN_WORD_SCORE)

    def decode(self, payload: bytes) -> np.ndarray:
        return voice.decode_audio(payload, self.max_seconds)

    def preprocess(self, decoded: np.ndarray) -> bytes:
        """The samples with the noise floor (FLOOR_DB) under them, as s16le bytes; seeded by
        the clip's length, so a clip always decodes the same way."""
        x = decoded.astype(np.float32)
        loud = x[np.abs(x) > 300]
        level = float(np.mean(loud**2)) if loud.size else 1.0
        rng = np.random.default_rng(len(x))
        floor = rng.standard_normal(len(x)).astype(np.float32) * np.sqrt(
            level / 10 ** (FLOOR_DB / 10)
        )
        return bytes(np.clip(np.round(x + floor), -32768, 32767).astype("<i2").tobytes())

    def infer(self, inputs: bytes) -> Transcript:
        # each clip from the same start: the noise estimate and cepstral mean the last clip
        # left behind would otherwise change how this one decodes
        self.decoder.reinit_feat()
        self.decoder.set_cmn(self._cmn_init)
        self.decoder.start_utt()
        self.decoder.process_raw(inputs, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return Transcript("" if hyp is None else str(hyp.hypstr), self._worst_word_score())

    def _worst_word_score(self) -> float | None:
        """The lowest per-frame acoustic log-likelihood of a spoken word (fillers and silences
        skipped) in the last utterance. pocketsphinx hands out the scores as probabilities; a
        very poor word underflows to the floor of 1e-300, which only makes it poorer."""
        scores = [
            math.log(max(seg.ascore, 1e-300)) / (seg.end_frame - seg.start_frame + 1)
            for seg in self.decoder.seg() or []
            if not seg.word.startswith(("<", "["))
        ]
        return round(min(scores), 3) if scores else None

    def postprocess(self, raw: Transcript, decoded: np.ndarray) -> IntentOutput:
        """score: the lowest per-frame log-likelihood of a word."""
        duration_s = len(decoded) / voice.SAMPLE_RATE
        return intent_output(self.commands, raw, self.min_word_score, duration_s)
