"""The delivery agent: the process that reads a run's journal and calls the trackers.

* :mod:`.agent` runs one worker per backend until the run is delivered
  (``python -m tracelet.agent RUN_DIR``);
* :mod:`.delivery` is the engine it shares with ``tracelet sync``: cursors, batches,
  retries;
* :mod:`.launch` starts the agent from ``start_logging`` and waits for it at stop;
* :mod:`.stop_report` says, per backend, what arrived and what did not.

Nothing here is imported by ``import tracelet`` until a run starts.
"""
