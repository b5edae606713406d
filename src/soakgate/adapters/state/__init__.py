"""soakgate.db and its repositories (releases, ledger, soaks, evidence); one db.connect()."""
