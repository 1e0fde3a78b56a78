"""`python -m astria_async.cli`: the `astria` command."""

from . import main

main()
