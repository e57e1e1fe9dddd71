"""hard samples: inputs a cascade sent with both answers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 01:05:58.693733
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud_hub.db.types
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sample_contents',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('hard_samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('cloud_model', sa.String(length=128), nullable=False),
    sa.Column('cloud_version', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('edge_output', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('cloud_output', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('agree', sa.Boolean(), nullable=False),
    sa.Column('review', sa.String(length=16), nullable=False),
    sa.Column('label', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reviewed_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ts', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sha256'], ['sample_contents.sha256'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('hard_samples', schema=None) as batch_op:
        batch_op.create_index('ix_hard_samples_device_id', ['device_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hard_samples_model'), ['model'], unique=False)
        batch_op.create_index(batch_op.f('ix_hard_samples_review'), ['review'], unique=False)
        batch_op.create_index(batch_op.f('ix_hard_samples_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_hard_samples_ts'), ['ts'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hard_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hard_samples_ts'))
        batch_op.drop_index(batch_op.f('ix_hard_samples_sha256'))
        batch_op.drop_index(batch_op.f('ix_hard_samples_review'))
        batch_op.drop_index(batch_op.f('ix_hard_samples_model'))
        batch_op.drop_index('ix_hard_samples_device_id')

    op.drop_table('hard_samples')
    op.drop_table('sample_contents')
