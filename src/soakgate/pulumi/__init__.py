"""Pulumi components, Python dynamic providers over the Docker SDK, and the language host."""
