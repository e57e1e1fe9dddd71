"""The engine-fault model's doubt head: features, the shipped head, that it speaks only for
the version it was trained for, and that it knows when the hub's model would be right where
the device's is wrong (real models, engines it was not trained or tuned on)."""

import json

import numpy as np
import pytest

from models.catalogue import load_catalogue
from models.datasets.engine import generate_records, iid_profile, to_features
from models.fetch import built_file
from models.pipelines import load_pipeline
from models.pipelines.tabular import TabularPipeline
from models.training.doubt import HEADS_DIR, DoubtHead
from models.training.engine_doubt import HIDDEN, doubt_features
from tests.fixtures.requires import require_models

UNSEEN_SEED = 9100  # neither training (7000), validation (8000) nor bench offload (5000)


def test_features_are_probabilities_margin_and_the_reading() -> None:
    p = np.array([[0.1, 0.6, 0.2, 0.1]], np.float32)
    x = np.arange(11, dtype=np.float32)[None] / 10
    f = doubt_features(p, x)
    assert f.shape == (1, 16)
    np.testing.assert_allclose(f[0, :4], p[0])
    assert f[0, 4] == pytest.approx(0.4)
    np.testing.assert_allclose(f[0, 5:], x[0])


def test_the_shipped_head_belongs_to_the_catalogue_model() -> None:
    spec = load_catalogue().get("engine-fault")
    assert spec.doubt_head is not None
    head = DoubtHead.load(HEADS_DIR / spec.doubt_head)
    assert (head.model, head.version) == (spec.id, spec.version)
    assert (head.shape.inputs, head.shape.hidden) == (16, HIDDEN)


@pytest.fixture(scope="module")
def device() -> TabularPipeline:
    require_models("engine-fault")
    pipeline = load_pipeline("engine-fault")
    assert isinstance(pipeline, TabularPipeline)
    return pipeline


def _readings(n_per_engine: int) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    records = [
        r
        for i in range(4)
        for r in generate_records(iid_profile(i, seed=UNSEEN_SEED), n_per_engine)
    ]
    truth = np.array([r.pop("fault_status") for r in records])
    return [json.dumps(r).encode() for r in records], truth, to_features(records)


def test_a_registry_version_answers_without_doubt(device: TabularPipeline) -> None:
    spec = load_catalogue().get("engine-fault")
    newer = TabularPipeline.from_file(spec, built_file(spec), "fl-round-3")
    payload = _readings(1)[0][0]
    assert device.run(payload).doubt is not None
    assert newer.run(payload).doubt is None  # the head was trained for seed-1 only
    assert newer.run(payload).probabilities == device.run(payload).probabilities


def test_asking_by_doubt_recovers_most_of_the_gap(device: TabularPipeline) -> None:
    """Readings of 4 unseen engines: asking the hub about those the head doubts (>= 0.5)
    recovers at least 60 % of what the hub adds, and more than asking about as many readings
    by the lowest top-class probability."""
    require_models("engine-fault-cloud")
    cloud = load_pipeline("engine-fault-cloud")
    payloads, truth, inputs = _readings(150)
    outs = [device.run(p) for p in payloads]
    doubt = np.array([o.doubt for o in outs])
    top = np.array([max(o.probabilities) for o in outs])
    edge_right = np.array([o.label for o in outs]) == truth
    cloud_right = cloud.infer(inputs).argmax(axis=1) == truth  # type: ignore[attr-defined]
    gap = cloud_right.sum() - edge_right.sum()
    assert gap > 0

    def gained(ask: np.ndarray) -> int:
        return int(np.where(ask, cloud_right, edge_right).sum() - edge_right.sum())

    by_doubt = doubt >= 0.5
    by_score = np.zeros(len(top), bool)
    by_score[np.argsort(top)[: by_doubt.sum()]] = True
    assert gained(by_doubt) >= 0.6 * gap
    assert gained(by_doubt) > gained(by_score)


def test_the_shipped_head_is_what_its_recipe_builds(device: TabularPipeline) -> None:
    """The committed weights are reproducible from the code (deterministic training), up to
    the CPU: XNNPACK and OpenBLAS pick their kernels per instruction set (AVX-512 or AVX2 sum in
    different orders), so a head rebuilt on another machine differs in the last digits and
    training carries that on (weights within 0.002 between the build machine and an AMD EPYC
    with AVX2 only); what it decides is the same."""
    require_models("engine-fault-cloud")
    from models.training.engine_doubt import build

    spec = load_catalogue().get("engine-fault")
    assert spec.doubt_head is not None
    shipped = DoubtHead.load(HEADS_DIR / spec.doubt_head)
    rebuilt = build()
    np.testing.assert_allclose(rebuilt.params, shipped.params, atol=0.01)
    np.testing.assert_allclose(rebuilt.mean, shipped.mean, rtol=1e-4)
    payloads, _, inputs = _readings(150)
    probabilities = np.array([device.run(p).probabilities for p in payloads])
    features = doubt_features(probabilities, inputs)
    rebuilt_doubts, shipped_doubts = rebuilt.doubts(features), shipped.doubts(features)
    np.testing.assert_allclose(rebuilt_doubts, shipped_doubts, atol=0.05)
    assert np.mean((rebuilt_doubts >= 0.5) == (shipped_doubts >= 0.5)) >= 0.98
