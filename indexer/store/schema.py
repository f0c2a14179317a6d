"""The catalog's schema version: the number of named migrations (`indexer.store.migrations`).

Its own module so a reader checks the version without importing the migrations (and sqlite_utils).
"""

SCHEMA_VERSION = 10  # tests/test_store.py checks it is the number of migrations
