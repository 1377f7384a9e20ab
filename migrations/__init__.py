"""Alembic migrations for the flatnas store (run through store.migrate or the alembic CLI)."""
