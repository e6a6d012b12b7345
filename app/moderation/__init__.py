"""Moderation: screening what citizens write (a city-maintained word list and personal-data masks)."""
