"""plainsvc: a second sample service for soakgate, standard library only.

GET  /healthz             {"status": "ok"}
GET  /primes?limit=N      {"limit": N, "primes": <how many primes are <= N>}
POST /reverse             the request body, reversed (text)
"""
