"""Ask for a push to a user's devices; the worker delivers it from the outbox via SQS."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status

from ...db import run_db
from ...notifications import service
from ..deps import CurrentUserDep
from ..errors import AUTH_RESPONSES, _doc
from ..schemas import NotificationIn, NotificationOut

router = APIRouter(prefix="/notifications", tags=["notifications"], responses=AUTH_RESPONSES)


@router.post(
    "",
    response_model=NotificationOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={403: _doc("Only staff may notify another user"), 404: _doc("No such recipient")},
)
async def request_push(body: NotificationIn, user: CurrentUserDep, request: Request) -> NotificationOut:
    recipient = body.user_id or user.id
    if recipient != user.id and not await run_db(service.is_staff, user.id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only staff may notify another user")
    try:
        created = await run_db(
            service.request_push,
            user.id,
            recipient,
            body.title,
            body.body,
            body.data,
            request.state.request_id,
        )
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="recipient not found") from exc
    return NotificationOut.model_validate(created)


@router.get(
    "/{notification_id}", response_model=NotificationOut, responses={404: _doc("No such notification")}
)
async def get_notification(notification_id: uuid.UUID, user: CurrentUserDep) -> NotificationOut:
    try:
        return NotificationOut.model_validate(
            await run_db(service.get_notification, user.id, notification_id)
        )
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="notification not found") from exc
