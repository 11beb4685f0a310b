"""Backends deploy one server configuration each: sim, local, docker, endpoint.

SDKs (docker, kubernetes, NVML) are imported only by the backend that needs them.
"""

from __future__ import annotations

from .base import Backend, DeployContext, ServerHandle, ServerSpec

__all__ = ["Backend", "DeployContext", "ServerHandle", "ServerSpec"]
