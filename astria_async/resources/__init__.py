"""The resource namespaces of the client: `client.tunes`, `client.prompts`, `client.packs`,
`client.users`, `client.workspaces`."""

from ._base import ApiSource, Services
from .account import Users, Workspaces
from .packs import Packs
from .prompts import Prompts
from .tunes import Tunes

__all__ = ["ApiSource", "Packs", "Prompts", "Services", "Tunes", "Users", "Workspaces"]
