"""`edgefleet bench intent`: how often the hub's `voice-command` model gets a spoken command's
intent right (docs/benchmarks.md, docs/voice-commands.md).

Clips of each split of `models.datasets.commands` (tuning phrasings and voices, held-out voices,
held-out phrasings, both held out, flite's voices, sentences that are no command) go through
the model in process, one at a time: a clip is right when action, device and area all match
what was said, wrong when the model understood something else (the dangerous case: a device
acts on it), and not understood when the transcript named no action or no device.
"""

from edgefleet.bench.intent.run import IntentBenchConfig, run_intent_bench

__all__ = ["IntentBenchConfig", "run_intent_bench"]
