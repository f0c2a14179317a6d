"""Findling's desktop app (PySide6): search window, previews, live index status, similarity matrices."""
