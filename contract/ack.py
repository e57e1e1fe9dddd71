"""`{d}/ack`: the hub's end-to-end ingestion acknowledgement to a device.

Published by the hub bridge after the SQL batch holding these messages committed (or after it
refused them for good, e.g. an invalid payload), so a device may delete them from its durable
outbox. A device re-sends what stays unacknowledged; the hub ingests idempotently on `msg_id`.
"""

from pydantic import Field

from contract.base import Message


class Ack(Message):
    msg_ids: list[str] = Field(
        min_length=1, description="msg_id of every result, event and health the hub has stored"
    )
