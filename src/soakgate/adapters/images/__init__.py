"""Images: base root filesystems, wheelhouses, build contexts, the host and proxy images."""
