"""soakgate: ship a Python web service through stages and bring it back fast."""
