"""The parts of the live indexer (`indexer.write.watcher`): the pending-path queue, observers, power rules."""
