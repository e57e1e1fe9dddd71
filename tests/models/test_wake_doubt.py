"""The device wake-word model's doubt head: features, the shipped head, and that asking the
hub about the clips it doubts recovers most of what the hub adds while sending few (real
models, espeak-ng clips of a seed it was neither trained nor checked on)."""

import numpy as np
import pytest

from contract.outputs import WakeWordOutput
from models.catalogue import load_catalogue
from models.pipelines import load_pipeline
from models.training.doubt import HEADS_DIR, DoubtHead
from models.training.wake_doubt import HIDDEN, WORDS, doubt_features
from tests.fixtures.requires import require_models, require_tools

UNSEEN_SEED = 4245  # neither training (4243), validation (4244) nor bench offload (0)


def test_features_of_an_answer() -> None:
    out = WakeWordOutput(
        detected=True,
        wake_word="alexa",
        probability=0.97,
        probabilities={"alexa": 0.97, "okay_nabu": 0.1},
        duration_s=1.8,
    )
    f = doubt_features(out)
    assert f.shape == (9,)
    np.testing.assert_allclose(f, [0.1, 0.97, 0.0, 1.0, 0.97, 1.8, 0.0, 1.0, 0.0], rtol=1e-6)


def test_the_shipped_head_belongs_to_the_catalogue_model() -> None:
    spec = load_catalogue().get("wakeword-lite")
    assert tuple(spec.labels) == WORDS
    assert spec.doubt_head is not None
    head = DoubtHead.load(HEADS_DIR / spec.doubt_head)
    assert (head.model, head.version) == (spec.id, spec.version)
    assert (head.shape.inputs, head.shape.hidden) == (9, HIDDEN)


@pytest.mark.slow
@pytest.mark.long  # a benchmark-sized check (hundreds of clips): keeps `make test` in budget
def test_asking_by_doubt_recovers_most_of_the_gap_sending_few() -> None:
    """150 unseen clips: asking about those with doubt >= 0.25 (1 - the cascade's default band
    edge 0.75) recovers >= 60 % of what wakeword-cloud adds, asking about <= 40 % of clips."""
    require_tools("espeak-ng")
    require_models("wakeword-lite", "wakeword-cloud")
    from models.datasets import speech
    from models.training.wake_doubt import _right

    device, cloud = load_pipeline("wakeword-lite"), load_pipeline("wakeword-cloud")
    doubt, edge, hub = [], [], []
    for clip in speech.load_speech(150, seed=UNSEEN_SEED):
        mine = device.run(clip.wav)
        assert isinstance(mine, WakeWordOutput)
        assert mine.doubt is not None
        doubt.append(mine.doubt)
        edge.append(_right(mine, clip.label))
        hub.append(_right(cloud.run(clip.wav), clip.label))
    d, e, h = np.array(doubt), np.array(edge), np.array(hub)
    ask = d >= 0.25
    gap = h.sum() - e.sum()
    assert gap > 0
    assert np.where(ask, h, e).sum() - e.sum() >= 0.6 * gap
    assert ask.mean() <= 0.4
