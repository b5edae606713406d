"""The only code that touches Docker, Pulumi, subprocesses, HTTP and SQLite."""
