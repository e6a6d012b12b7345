"""poi package (see its issue)."""
