"""Deploying configurations and measuring their points (pytest-free)."""
