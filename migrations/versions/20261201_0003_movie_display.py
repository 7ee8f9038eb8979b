"""Movies record how they are displayed: coded vs display size, rotation, sample aspect
ratio, interlacing, the first video frame's time, container, browser playability and a
proxy (issue 12, the decoding contract of DESIGN.md §7).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

COLUMNS = (
    ('coded_width', sa.Integer()),
    ('coded_height', sa.Integer()),
    ('rotation', sa.SmallInteger()),
    ('sar', sa.String(length=16)),
    ('interlaced', sa.Boolean()),
    ('field_order', sa.String(length=16)),
    ('start_s', sa.Float()),
    ('video_delay_s', sa.Float()),
    ('container', sa.String(length=64)),
    ('browser_playable', sa.Boolean()),
    ('proxy_path', sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table('movie', schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('movie', schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
