"""One stage on the engine: slots and proxy, the stage lock, its Pulumi stack and secrets."""
