"""The wake-word confirmer's features on real clips, and its undecided start."""

import numpy as np

from models.training import mlp
from models.training.wake_rescorer import SHAPE, detection_features, shipped_params
from tests.fixtures.requires import require_models, require_tools


def test_features_only_for_a_detection_and_the_shipped_confirmer_is_undecided() -> None:
    require_models("wakeword-lite")
    require_tools("espeak-ng")
    from models.datasets.speech import load_speech
    from models.pipelines import load_pipeline

    lite = load_pipeline("wakeword-lite")
    found = {}
    for clip in load_speech(40, seed=11):
        output, features = detection_features(lite, clip.wav)
        assert output == lite.run(clip.wav)  # the same answer as the pipeline's own
        found[output.detected] = features
        if len(found) == 2:
            break
    assert found[False] is None
    features = found[True]
    assert features is not None
    assert (features.shape, features.dtype) == ((SHAPE.inputs,), np.float32)
    assert np.isfinite(features).all()
    p = mlp.predict_proba(SHAPE, shipped_params(), features[None])[0]
    np.testing.assert_allclose(p, [0.5, 0.5])  # keeps the detection, asks the hub about it
