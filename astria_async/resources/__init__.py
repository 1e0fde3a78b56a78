"""The resource namespaces of the client: `client.tunes`, `client.prompts`, `client.packs`,
`client.users`, `client.workspaces`, `client.images`, `client.gallery`."""

from ._base import ApiSource, Services
from .account import Users, Workspaces
from .gallery import Gallery
from .images import Images
from .packs import Packs
from .prompts import Prompts
from .tunes import Tunes

__all__ = ["ApiSource", "Gallery", "Images", "Packs", "Prompts", "Services", "Tunes", "Users",
           "Workspaces"]
