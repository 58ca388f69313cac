"""The worker's composition: settings, metrics, heap tuning and :func:`run_worker`."""
