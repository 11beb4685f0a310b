"""Inference runtimes: flag catalogues, launch commands and readiness endpoints."""
