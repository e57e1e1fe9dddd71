"""Which models the hub serves, what content they accept, and the workers that run them."""

import logging
from collections.abc import Iterable
from typing import Any

from cloud_hub.core.errors import NotFound, Unavailable, UnsupportedMediaType
from cloud_hub.core.metrics import HubMetrics
from cloud_hub.inference.batcher import ModelWorker, Outcome, PipelineLoader

log = logging.getLogger(__name__)

CONTENT_TYPES: dict[str, frozenset[str]] = {
    "image": frozenset({"image/jpeg", "image/png"}),
    "audio": frozenset(
        {
            "audio/wav",
            "audio/x-wav",
            "audio/wave",
            "audio/vnd.wave",
            "audio/l16",
            "application/octet-stream",
        }
    ),
    "tabular": frozenset({"application/json"}),
}


def default_loader(model_id: str) -> Any:
    from models.pipelines import load_pipeline  # imported on first use: numpy, LiteRT...

    return load_pipeline(model_id)


def input_kind(model_id: str) -> str | None:
    """The catalogue's input kind (image/audio/tabular), None when it cannot be read."""
    try:
        from models.catalogue import load_catalogue

        return str(load_catalogue().get(model_id).input.kind)
    except Exception:
        log.warning("cannot read the catalogue entry of %s", model_id, exc_info=True)
        return None


class InferenceService:
    def __init__(
        self,
        models: Iterable[str],
        *,
        loader: PipelineLoader | None,
        max_batch: int,
        queue_max: int,
        metrics: HubMetrics,
        kinds: dict[str, str] | None = None,
    ) -> None:
        self.metrics = metrics
        self._loader = loader or default_loader
        self._kinds = dict(kinds or {})
        self._workers = {
            m: ModelWorker(
                m, self._loader, max_batch=max_batch, queue_max=queue_max, metrics=metrics
            )
            for m in models
        }

    @property
    def models(self) -> list[str]:
        return sorted(self._workers)

    def start(self) -> None:
        for worker in self._workers.values():
            worker.start()

    def warm_up(self) -> dict[str, str]:
        """Each model's load at start: "loading", "ok" or the error (readiness)."""
        return {m: w.warm_up for m, w in sorted(self._workers.items())}

    async def stop(self) -> None:
        for worker in self._workers.values():
            await worker.stop()

    def check(self, model_id: str, content_type: str | None) -> ModelWorker:
        """404 for a model not served here, 415 for a content type it cannot take."""
        worker = self._workers.get(model_id)
        if worker is None:
            raise NotFound(
                f"model {model_id!r} is not served by this hub; served: {', '.join(self.models)}",
                code="unknown_model",
            )
        kind = self._kinds.get(model_id)
        if kind is None:
            kind = self._kinds[model_id] = input_kind(model_id) or "unknown"
        accepted = CONTENT_TYPES.get(kind)
        media = (content_type or "").split(";")[0].strip().lower()
        if accepted is not None and media not in accepted:
            raise UnsupportedMediaType(
                f"model {model_id} takes {', '.join(sorted(accepted))}; got {media or 'none'}",
                detail={"accepted": sorted(accepted)},
            )
        return worker

    async def infer(self, worker: ModelWorker, payload: bytes) -> Outcome:
        try:
            return await worker.submit(payload)
        except (ImportError, OSError) as exc:
            raise Unavailable(
                f"model {worker.model_id} cannot be loaded: {exc}", code="model_unavailable"
            ) from exc
