"""A faithful, standard-library-only fake of the I'mport (PortOne V1) REST API for tests."""

from .server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxServer, start_sandbox

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "SandboxServer", "start_sandbox"]
