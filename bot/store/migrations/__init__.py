"""Alembic migrations for Baton's own tables (see bot/store/tables.py)."""
