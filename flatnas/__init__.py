"""flatnas's Python client: `from flatnas import Client` (see flatnas.client)."""

from flatnas.client import ApiError, Client, Event, FlatnasError

__all__ = ["ApiError", "Client", "Event", "FlatnasError"]
