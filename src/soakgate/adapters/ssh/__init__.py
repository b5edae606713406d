"""SSH to a stage's Docker hosts: host keys checked against known_hosts, one connection per
host carrying both the Docker API and the few commands soakgate runs there."""
