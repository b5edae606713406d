"""Pure logic: models and decisions. Nothing in here does I/O (a unit test enforces it)."""
