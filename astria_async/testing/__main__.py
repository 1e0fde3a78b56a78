"""``python -m astria_async.testing``: serve a fake Astria API."""

from astria_async.testing._serve import main

raise SystemExit(main())
