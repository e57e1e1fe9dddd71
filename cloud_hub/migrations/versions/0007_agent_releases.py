"""agent releases: signed agent bundles devices update themselves to

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud_hub.db.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agent_releases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('arch', sa.String(length=16), nullable=False),
    sa.Column('python', sa.String(length=8), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256'),
    sa.UniqueConstraint('version', 'arch', 'python', name='uq_agent_releases_target')
    )


def downgrade() -> None:
    op.drop_table('agent_releases')
