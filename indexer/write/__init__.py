"""The write side: index folders (pipeline), re-embed (reindex), keep the index live (watcher, watch/)."""
