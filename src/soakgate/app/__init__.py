"""Use cases: they take their adapters (ports) as arguments."""
