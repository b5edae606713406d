"""The Docker engine: the SDK client, the light socket client, container statistics."""
