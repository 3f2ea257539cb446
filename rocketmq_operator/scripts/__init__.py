"""Shell scripts shipped with the package (the broker start script)."""
