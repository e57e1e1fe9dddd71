"""model registry and federated rounds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:32:39.163826
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud_hub.db.types
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_models',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('deployment_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('refused_version', sa.String(length=64), nullable=True),
    sa.Column('updated_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'model')
    )
    with op.batch_alter_table('device_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_models_deployment_id'), ['deployment_id'], unique=False)

    op.create_table('fl_rounds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('base_version_id', sa.Integer(), nullable=True),
    sa.Column('result_version_id', sa.Integer(), nullable=True),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('weights', sa.LargeBinary(), nullable=True),
    sa.Column('accumulator', sa.LargeBinary(), nullable=True),
    sa.Column('privacy', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('aggregation_ms', sa.Float(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('deadline', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('fl_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fl_rounds_model'), ['model'], unique=False)
        batch_op.create_index(batch_op.f('ix_fl_rounds_state'), ['state'], unique=False)

    op.create_table('fl_updates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('encoding', sa.String(length=8), nullable=True),
    sa.Column('samples', sa.Integer(), nullable=True),
    sa.Column('norm', sa.Float(), nullable=True),
    sa.Column('staleness', sa.Integer(), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('aggregated', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('fl_updates', schema=None) as batch_op:
        batch_op.create_index('ix_fl_updates_round_device', ['round_id', 'device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fl_updates_round_id'), ['round_id'], unique=False)

    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('weights_sha256', sa.String(length=64), nullable=True),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by_round', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['model_versions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model', 'seq', name='uq_model_versions_model_seq'),
    sa.UniqueConstraint('model', 'version', name='uq_model_versions_model_version')
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_model'), ['model'], unique=False)

    op.create_table('deployments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('tag', sa.String(length=100), nullable=True),
    sa.Column('canary_percent', sa.Float(), nullable=True),
    sa.Column('devices', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('rollback_version_id', sa.Integer(), nullable=True),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deployments_model'), ['model'], unique=False)
        batch_op.create_index(batch_op.f('ix_deployments_state'), ['state'], unique=False)

    op.create_table('fl_participants',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['fl_rounds.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'device_id')
    )


def downgrade() -> None:
    op.drop_table('fl_participants')
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deployments_state'))
        batch_op.drop_index(batch_op.f('ix_deployments_model'))

    op.drop_table('deployments')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_model'))

    op.drop_table('model_versions')
    with op.batch_alter_table('fl_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fl_updates_round_id'))
        batch_op.drop_index('ix_fl_updates_round_device')

    op.drop_table('fl_updates')
    with op.batch_alter_table('fl_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fl_rounds_state'))
        batch_op.drop_index(batch_op.f('ix_fl_rounds_model'))

    op.drop_table('fl_rounds')
    with op.batch_alter_table('device_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_models_deployment_id'))

    op.drop_table('device_models')
