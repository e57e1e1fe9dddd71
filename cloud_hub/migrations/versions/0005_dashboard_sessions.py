"""dashboard sessions: sign-ins every hub replica sees, surviving restarts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 06:54:54.475952
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud_hub.db.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dashboard_sessions',
    sa.Column('sid_hash', sa.String(length=64), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('admin_proof', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sid_hash')
    )
    with op.batch_alter_table('dashboard_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dashboard_sessions_api_key_id'), ['api_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dashboard_sessions_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dashboard_sessions_expires_at'), ['expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dashboard_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_sessions_expires_at'))
        batch_op.drop_index(batch_op.f('ix_dashboard_sessions_created_at'))
        batch_op.drop_index(batch_op.f('ix_dashboard_sessions_api_key_id'))

    op.drop_table('dashboard_sessions')
