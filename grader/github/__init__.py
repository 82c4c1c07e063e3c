"""github stage."""
