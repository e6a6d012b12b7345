"""The mini-program's JSON API (/api/mp/...): its own session tokens, the citizen's cases, points and nearby POIs."""
