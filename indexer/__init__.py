"""Findling's headless engine: extract, chunk, embed, catalog, search. Never imports Qt."""

__version__ = "0.1.0"
