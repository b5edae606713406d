"""Evidence collectors: tests and coverage, mutation, audit (SBOM, advisories), performance."""
