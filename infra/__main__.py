"""soakgate's Pulumi program: thin on purpose; the components live in the soakgate package."""

from soakgate.pulumi.program import define_stack

define_stack()
