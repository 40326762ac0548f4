"""Push devices of the signed-in user. Another user's device answers 404, never 403."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from ...db import run_db
from ...notifications import service
from ..deps import CurrentUserDep
from ..errors import AUTH_RESPONSES, _doc
from ..schemas import DeviceIn, DeviceOut

router = APIRouter(prefix="/devices", tags=["devices"], responses=AUTH_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _doc("No such device for this user")}


@router.post(
    "",
    response_model=DeviceOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": DeviceOut, "description": "Already registered; updated in place"}},
)
async def register_device(body: DeviceIn, user: CurrentUserDep, response: Response) -> DeviceOut:
    """Idempotent per app install: registering again updates the token and answers 200."""
    device, created = await run_db(
        service.register_device,
        user.id,
        body.device_id,
        body.platform,
        body.push_token,
        body.onesignal_subscription_id,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return DeviceOut.model_validate(device)


@router.get("", response_model=list[DeviceOut])
async def list_devices(user: CurrentUserDep) -> list[DeviceOut]:
    return [DeviceOut.model_validate(d) for d in await run_db(service.list_devices, user.id)]


@router.get("/{device_id}", response_model=DeviceOut, responses=NOT_FOUND)
async def get_device(device_id: uuid.UUID, user: CurrentUserDep) -> DeviceOut:
    try:
        return DeviceOut.model_validate(await run_db(service.get_device, user.id, device_id))
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="device not found") from exc


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_device(device_id: uuid.UUID, user: CurrentUserDep) -> Response:
    try:
        await run_db(service.delete_device, user.id, device_id)
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="device not found") from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
