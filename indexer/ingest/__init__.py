"""Ingest: find files (scan), read and extract their text (extract, prepare), cut it into chunks."""
