"""The cost model of a board refresh: single GETs or list pages."""

from __future__ import annotations

from astria_async.waiting.paging import keep_paging, pages_left, use_pages

# --- cost model ------------------------------------------------------------------------------


def test_few_ids_use_single_gets() -> None:
    assert not use_pages(1, None)
    assert not use_pages(3, None)
    assert use_pages(4, None)
    assert use_pages(500, 5)
    # Learned: paging needed more pages than there are ids -> singles are cheaper.
    assert not use_pages(10, 40)
    assert not use_pages(10, 10)


def test_pages_left_from_density() -> None:
    # 120 objects spread over ids 1000..881 (dense): id 500 is ~381 objects further: 4 pages.
    assert pages_left(1000, 881, 120, 500) == 4
    # 120 objects over 12,000 ids (sparse, others' ids in between): id 500 is ~ 1 page away.
    assert pages_left(20_000, 8_001, 120, 500) == 1
    assert keep_paging(1000, 881, 120, [500, 600, 700, 800, 850])  # 4 pages < 5 singles
    assert not keep_paging(1000, 881, 120, [500, 600])  # 4 pages > 2 singles
    assert not keep_paging(1000, 881, 120, [])
