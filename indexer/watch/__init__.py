"""The parts of the live indexer (`indexer.watcher`): the pending-path queue, the observers, power rules."""
