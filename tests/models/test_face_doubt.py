"""The face detector's doubt head: its features, the shipped head, and that it knows when the
hub's model would do better (real models, images it was not trained or tuned on)."""

import numpy as np
import pytest

from models.catalogue import Catalogue, ModelSpec, load_catalogue
from models.errors import CatalogueError
from models.fetch import verified_files
from models.pipelines import load_pipeline
from models.pipelines.face import FaceDetectionPipeline
from models.training.doubt import HEADS_DIR, DoubtHead
from models.training.face_doubt import FEATURES, HIDDEN, doubt_features
from tests.fixtures.requires import require_models

UNSEEN_SEED = 901  # neither training (1000) nor validation (900) nor bench offload (0)


def test_features_of_candidates() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 20, 40], [5, 5, 6, 6]], np.float32)
    x = doubt_features(np.array([0.2, 0.9, 0.45]), boxes, 100, 100)
    assert x.shape == (FEATURES,)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x[:6], [0.9, 0.45, 0.2, 0, 0, 0], rtol=1e-6)
    assert x[6:11].tolist() == [3, 2, 1, 1, 2]  # >= 0.1, 0.3, 0.5, 0.8; below 0.5
    np.testing.assert_allclose(x[11:], [0.08, 0.0001], rtol=1e-5)  # largest, smallest box


def test_no_candidates_is_all_zeros() -> None:
    assert not doubt_features(np.zeros(0), np.zeros((0, 4)), 640, 480).any()


def test_the_shipped_head_belongs_to_the_catalogue_model() -> None:
    spec = load_catalogue().get("face-detect-lite")
    assert spec.doubt_head is not None
    head = DoubtHead.load(HEADS_DIR / spec.doubt_head)
    assert (head.model, head.version) == (spec.id, spec.version)
    assert (head.shape.inputs, head.shape.hidden) == (FEATURES, HIDDEN)


def test_a_head_for_another_version_is_refused() -> None:
    require_models("face-detect-lite")
    spec = load_catalogue().get("face-detect-lite")
    old = spec.model_copy(update={"version": "short-range-0.5.0"})
    trained_for = r"trained for face-detect-lite short-range-0\.6\.0, not .* short-range-0\.5\.0"
    with pytest.raises(CatalogueError, match=trained_for):
        FaceDetectionPipeline(old, verified_files(spec))


def _with(spec: ModelSpec) -> Catalogue:
    """The catalogue with `spec` in place of its entry."""
    return Catalogue(models=[spec if m.id == spec.id else m for m in load_catalogue().models])


@pytest.fixture(scope="module")
def lite() -> FaceDetectionPipeline:
    require_models("face-detect-lite")
    pipeline = load_pipeline("face-detect-lite")
    assert isinstance(pipeline, FaceDetectionPipeline)
    return pipeline


def test_the_head_adds_doubt_and_changes_no_face(lite: FaceDetectionPipeline) -> None:
    from models.datasets.faces import make_sample

    spec = load_catalogue().get("face-detect-lite").model_copy(update={"doubt_head": None})
    plain = load_pipeline(spec.id, catalogue=_with(spec))
    for i in range(10):
        jpeg = make_sample(i, UNSEEN_SEED).jpeg
        with_head, without = lite.run(jpeg), plain.run(jpeg)
        assert with_head.faces == without.faces
        assert without.doubt is None
        assert with_head.doubt is not None
        assert 0.0 <= with_head.doubt <= 1.0
        assert with_head.confidence == pytest.approx(1.0 - with_head.doubt)


@pytest.mark.slow
@pytest.mark.long  # a benchmark-sized check (hundreds of images): keeps `make test` in budget
def test_asking_by_doubt_recovers_more_than_asking_by_score(lite: FaceDetectionPipeline) -> None:
    """On 120 unseen images, asking the hub about the third the head doubts most recovers more
    of what the hub adds than asking about the third with the lowest best face score."""
    require_models("face-detect-cloud")
    from contract.outputs import match_faces
    from models.datasets.faces import make_sample

    cloud = load_pipeline("face-detect-cloud")
    doubt, score, gain = [], [], []
    for i in range(120):
        sample = make_sample(i, UNSEEN_SEED)
        edge = lite.run(sample.jpeg)
        hub = cloud.run(sample.jpeg)
        (eh, ef) = match_faces(sample.boxes, [f.box for f in edge.faces])
        (ch, cf) = match_faces(sample.boxes, [f.box for f in hub.faces])
        doubt.append(edge.doubt)
        score.append(max((f.score for f in edge.faces), default=0.0))
        gain.append((ch - eh) - (cf - ef))
    g = np.array(gain, float)
    third = len(g) // 3
    by_doubt = g[np.argsort(-np.array(doubt))[:third]].sum()
    by_score = g[np.argsort(np.array(score))[:third]].sum()
    assert g.sum() > 0  # the hub's model does add faces here
    assert by_doubt > by_score
    assert by_doubt >= 0.5 * g[g > 0].sum()  # at least half of what the hub could add
