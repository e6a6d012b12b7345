"""Cases: categories, grid routing, duplicates and the closed-loop workflow."""
