"""Fleet-wide views: state counts and the service registry driven by health."""

from fastapi import APIRouter
from pydantic import BaseModel

from cloud_hub.api.deps import CurrentPrincipal, DbDep, ReaderDep
from cloud_hub.crud import devices as crud
from cloud_hub.schemas.devices import ServiceInstance
from contract.health import DeviceState
from contract.http import FLEET_SUMMARY, SERVICES

router = APIRouter(tags=["fleet"])


class FleetSummary(BaseModel):
    total: int
    by_state: dict[str, int]


@router.get(FLEET_SUMMARY)
def summary(db: DbDep, _: ReaderDep) -> FleetSummary:
    with db.session(write=False) as s:
        counts = crud.count_by_state(s)
    by_state = {str(st): counts.get(st, 0) for st in DeviceState}
    return FleetSummary(total=sum(counts.values()), by_state=by_state)


@router.get(SERVICES)
def services(
    db: DbDep, _who: CurrentPrincipal, service_id: str | None = None, healthy: bool = True
) -> list[ServiceInstance]:
    """Registered service instances; by default only those whose device is online/degraded."""
    with db.session(write=False) as s:
        rows = crud.list_services(s, service_id=service_id, healthy_only=healthy)
        return [
            ServiceInstance(
                device_id=d.id,
                service_id=d.service_id or "",
                address=d.address or "",
                metadata=d.service_meta or {},
                state=d.state,
            )  # type: ignore[arg-type]
            for d in rows
        ]
