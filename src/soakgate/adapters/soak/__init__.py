"""The soak monitor's outside world: probes, the monitor process, the report."""
