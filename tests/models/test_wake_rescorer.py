"""The wake-word judge's candidates on real clips, and its undecided start."""

import numpy as np

from models.training import mlp
from models.training.wake_rescorer import SHAPE, candidate, shipped_params
from tests.fixtures.requires import require_models, require_tools

FLOOR = 0.2  # the cascade's default rescue_min_probability


def test_candidates_are_detections_and_near_ones_and_the_shipped_judge_keeps_answers() -> None:
    require_models("wakeword-lite")
    require_tools("espeak-ng")
    from models.datasets.speech import load_speech
    from models.pipelines import load_pipeline

    lite = load_pipeline("wakeword-lite")
    found: dict[str, tuple[object, object]] = {}
    for clip in load_speech(120, seed=11):
        output, found_candidate = candidate(lite, clip.wav, FLOOR)
        assert output == lite.run(clip.wav)  # the same answer as the pipeline's own
        best = max(output.probabilities.values())
        kind = "fired" if output.detected else ("near" if best >= FLOOR else "silent")
        found.setdefault(kind, (output, found_candidate))
        if len(found) == 3:
            break
    assert set(found) == {"fired", "near", "silent"}
    assert found["silent"][1] is None  # nothing like a wake word: no candidate

    fired_output, fired = found["fired"]
    near_output, near = found["near"]
    assert fired is not None
    assert near is not None
    assert (fired.word, fired.fired) == (fired_output.wake_word, True)
    assert near.fired is False
    assert near_output.probabilities[near.word] == max(near_output.probabilities.values())
    for c in (fired, near):
        assert (c.features.shape, c.features.dtype) == ((SHAPE.inputs,), np.float32)
        assert np.isfinite(c.features).all()
        p = mlp.predict_proba(SHAPE, shipped_params(), c.features[None])[0]
        np.testing.assert_allclose(p, [0.5, 0.5])  # undecided: asks the hub about it
    # undecided, the device answers as shipped: the detection stands, the near one does not
    assert fired.kept(0.5)
    assert not near.kept(0.5)
    assert near.kept(0.51)
    assert not fired.kept(0.49)
