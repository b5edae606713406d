"""The soak: the monitor (monitor.py), its process (control.py), reading soaks (status.py)."""
