"""Run folders and the queue: ids, launch, the worker, archives and the Hub."""
