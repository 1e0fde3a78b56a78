"""The resource namespaces of the client: `client.tunes`, `client.prompts`, `client.packs`."""

from .packs import Packs
from .prompts import Prompts
from .tunes import Tunes

__all__ = ["Packs", "Prompts", "Tunes"]
