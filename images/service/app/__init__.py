"""The sample web service soakgate builds, deploys and soaks (a stand-in for a real one)."""

__version__ = "0.1.0"
