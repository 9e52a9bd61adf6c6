"""Alembic migrations of syncer's schema (installed as `syncer.migrations`)."""
