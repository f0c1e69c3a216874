"""The annotation store: projects, corpus queues and annotations in SQLite (default) or PostgreSQL.

``open_store(path_or_url)`` opens and migrates a database; :mod:`.projects` creates projects and adds texts,
:mod:`.queue` hands texts to annotators and records every edit, :mod:`.formats` imports and exports
corpora and annotations, :mod:`.agreement` compares annotators.
"""

from .db import Store, StoreError, default_db, open_store, resolve_url

__all__ = ["Store", "StoreError", "open_store", "default_db", "resolve_url"]
