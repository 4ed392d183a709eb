"""The state store's directory of PortOne V2 ids (``providers.StoreDirectory``)."""

from __future__ import annotations

from billing_service.providers import StoreDirectory
from billing_service.state import EmbeddedStore


def test_schedule_ids_and_the_schedule_being_moved_are_kept(tmp_path):
    directory = StoreDirectory(EmbeddedStore(str(tmp_path / "state.db")))

    directory.keep_schedule_id("o-1", "sch-1")
    assert directory.keep_moving_schedule("uid", "sch-1", "revoking")
    assert directory.keep_moving_schedule("uid", "sch-2", "2026-12-03T00:00:00Z")  # its own
    directory.drop_moving_schedule("uid", "sch-1", "2026-12-03T00:00:00Z")  # not kept: stays

    assert (directory.schedule_id("o-1"), directory.schedule_id("o-2")) == ("sch-1", None)
    assert directory.moving_schedule("uid", "sch-1") == "revoking"
    assert directory.moving_schedule("uid", "sch-2") == "2026-12-03T00:00:00Z"
    directory.drop_moving_schedule("uid", "sch-1", "revoking")
    assert directory.moving_schedule("uid", "sch-1") is None
