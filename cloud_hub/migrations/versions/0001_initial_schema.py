"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 21:58:54.846234
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud_hub.db.types
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('device_errors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('msg_key', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('rid', sa.String(length=128), nullable=True),
    sa.Column('ts', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('msg_key')
    )
    with op.batch_alter_table('device_errors', schema=None) as batch_op:
        batch_op.create_index('ix_device_errors_device_ts', ['device_id', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_errors_ts'), ['ts'], unique=False)

    op.create_table('device_state_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('ts', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('device_state_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_state_changes_ts'), ['ts'], unique=False)
        batch_op.create_index('ix_state_changes_device_ts', ['device_id', 'ts'], unique=False)

    op.create_table('device_twins',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ts', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id')
    )
    op.create_table('devices',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('site', sa.String(length=200), nullable=True),
    sa.Column('hardware', sa.String(length=200), nullable=True),
    sa.Column('agent_version', sa.String(length=64), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('service_id', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('service_meta', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('enrolled_with', sa.Integer(), nullable=True),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('state_reason', sa.String(length=200), nullable=True),
    sa.Column('state_since', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_heartbeat_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_health', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_service_id'), ['service_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_site'), ['site'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_state'), ['state'], unique=False)

    op.create_table('enrollment_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('expires_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('msg_id', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=128), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('rid', sa.String(length=128), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ts', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('msg_id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_device_ts', ['device_id', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_ts'), ['ts'], unique=False)

    op.create_table('health_rollups',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('minute', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('cpu_avg', sa.Float(), nullable=False),
    sa.Column('cpu_max', sa.Float(), nullable=False),
    sa.Column('mem_avg', sa.Float(), nullable=False),
    sa.Column('mem_max', sa.Float(), nullable=False),
    sa.Column('rtt_ms_avg', sa.Float(), nullable=True),
    sa.Column('queue_depth_max', sa.Integer(), nullable=False),
    sa.Column('offload_ratio_avg', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'minute')
    )
    with op.batch_alter_table('health_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_health_rollups_minute', ['minute'], unique=False)

    op.create_table('health_samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('ts', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('minute', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cpu', sa.Float(), nullable=False),
    sa.Column('mem', sa.Float(), nullable=False),
    sa.Column('rtt_ms', sa.Float(), nullable=True),
    sa.Column('queue_depth', sa.Integer(), nullable=False),
    sa.Column('infer_ms_p50', sa.Float(), nullable=True),
    sa.Column('offload_ratio', sa.Float(), nullable=False),
    sa.Column('uptime_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'ts', 'seq', name='uq_health_device_ts_seq')
    )
    with op.batch_alter_table('health_samples', schema=None) as batch_op:
        batch_op.create_index('ix_health_minute', ['minute'], unique=False)

    op.create_table('results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('msg_id', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('where', sa.String(length=8), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('rid', sa.String(length=128), nullable=True),
    sa.Column('output', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ts', cloud_hub.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('msg_id')
    )
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.create_index('ix_results_device_ts', ['device_id', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_results_ts'), ['ts'], unique=False)

    op.create_table('device_capabilities',
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model', 'device_id')
    )
    with op.batch_alter_table('device_capabilities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_capabilities_device_id'), ['device_id'], unique=False)

    op.create_table('device_tags',
    sa.Column('tag', sa.String(length=100), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tag', 'device_id')
    )
    with op.batch_alter_table('device_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_tags_device_id'), ['device_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('device_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_tags_device_id'))

    op.drop_table('device_tags')
    with op.batch_alter_table('device_capabilities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_capabilities_device_id'))

    op.drop_table('device_capabilities')
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_results_ts'))
        batch_op.drop_index('ix_results_device_ts')

    op.drop_table('results')
    with op.batch_alter_table('health_samples', schema=None) as batch_op:
        batch_op.drop_index('ix_health_minute')

    op.drop_table('health_samples')
    with op.batch_alter_table('health_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_health_rollups_minute')

    op.drop_table('health_rollups')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_ts'))
        batch_op.drop_index('ix_events_device_ts')

    op.drop_table('events')
    op.drop_table('enrollment_tokens')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_state'))
        batch_op.drop_index(batch_op.f('ix_devices_site'))
        batch_op.drop_index(batch_op.f('ix_devices_service_id'))

    op.drop_table('devices')
    op.drop_table('device_twins')
    with op.batch_alter_table('device_state_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_state_changes_device_ts')
        batch_op.drop_index(batch_op.f('ix_device_state_changes_ts'))

    op.drop_table('device_state_changes')
    with op.batch_alter_table('device_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_errors_ts'))
        batch_op.drop_index('ix_device_errors_device_ts')

    op.drop_table('device_errors')
    op.drop_table('api_keys')
    
