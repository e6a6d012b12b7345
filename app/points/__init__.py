"""points package (see its issue)."""
