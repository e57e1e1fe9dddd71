"""Hard samples (docs/hub.md "Hard samples"): what devices' cascades asked the hub about, with
both answers, for operators to review on the dashboard; reviewed labels are what later
training rounds learn from."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from cloud_hub.api.deps import AdminDep, DbDep, ReaderDep
from cloud_hub.core.errors import NotFound, Unprocessable
from cloud_hub.crud import samples as crud
from cloud_hub.schemas.common import Page, error_responses
from cloud_hub.schemas.samples import Review, SamplePublic, SampleReview
from contract import utcnow
from contract.http import SAMPLE_CONTENT, SAMPLE_REVIEW, SAMPLES
from contract.ids import DeviceId, ModelId

router = APIRouter(tags=["samples"])
SampleId = Annotated[int, Path(ge=1, le=2**62)]


@router.get(SAMPLES, response_model=Page[SamplePublic])
def list_samples(
    db: DbDep,
    _: ReaderDep,
    device_id: Annotated[DeviceId | None, Query(description="one device's only")] = None,
    model: Annotated[ModelId | None, Query(description="the device model's only")] = None,
    review: Annotated[Review | None, Query()] = None,
    disagree: Annotated[
        bool | None, Query(description="true: only where the answers differ")
    ] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[SamplePublic]:
    """Hard samples, newest first."""
    with db.session(write=False) as s:
        rows, total, nxt = crud.list_samples(
            s,
            device_id=device_id,
            model=model,
            review=review,
            disagree=disagree,
            cursor=int(cursor) if cursor else None,
            limit=limit,
        )
        items = [SamplePublic.model_validate(r) for r in rows]
    return Page(items=items, total=total, next_cursor=nxt)


@router.get(SAMPLE_CONTENT, response_class=Response, responses=error_responses(404))
def sample_content(sample_id: SampleId, db: DbDep, _: ReaderDep) -> Response:
    """The input's bytes, with the content type the device sent."""
    with db.session(write=False) as s:
        row = crud.content(s, sample_id)
        if row is None:
            raise NotFound(f"no sample {sample_id}", code="sample_not_found")
        return Response(
            row.data,
            media_type=row.content_type or "application/octet-stream",
            headers={"cache-control": "private, max-age=86400", "etag": f'"{row.sha256}"'},
        )


@router.put(SAMPLE_REVIEW, response_model=SamplePublic, responses=error_responses(404, 422))
def review_sample(sample_id: SampleId, body: SampleReview, db: DbDep, _: AdminDep) -> SamplePublic:
    """`accepted`: the cloud's answer becomes the label; `corrected`: the given `label`."""
    if (body.review == "corrected") != (body.label is not None):
        raise Unprocessable(
            "`label` goes with `corrected` (the right output) and only with it",
            code="bad_review",
        )
    with db.session(write=True) as s:
        row = crud.review_sample(s, sample_id, body.review, body.label or {}, utcnow())
        if row is None:
            raise NotFound(f"no sample {sample_id}", code="sample_not_found")
        if body.review == "accepted":
            row.label = row.cloud_output
        return SamplePublic.model_validate(row)
