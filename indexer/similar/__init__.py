"""Similar files and near-duplicates, from what the catalog stores (no file is read, no model runs)."""
