"""Issue 8 through the FFI: documents a sync set aside, and changes held by the server's quota."""

import datetime
import os
import unittest

import gridwork as g
from support import PASSWORDS, Server, new_report, scratch_dir


class SetAside(unittest.TestCase):
    def test_a_clean_store_has_nothing_set_aside_and_no_quota_hold(self):
        store = g.GridworkStore.open(os.path.join(scratch_dir("set-aside"), "w.db"), "worker", g.Role.WORKER)
        self.assertEqual(store.set_aside(), [])
        self.assertIsNone(store.quota_hold())

    def test_the_sync_report_counts_set_aside_and_held_changes(self):
        server = Server().start()
        try:
            store = g.GridworkStore.open(os.path.join(scratch_dir("set-aside-sync"), "w.db"), "worker", g.Role.WORKER)
            store.sign_in(server.url, "worker", PASSWORDS["worker"], "phone")
            store.create_report(new_report("井盖缺失"))
            report = store.sync(None)
            self.assertEqual(report.accepted, 1)
            self.assertEqual(report.held_by_quota, 0)
            self.assertEqual(report.set_aside, 0)
            self.assertEqual(store.pending_count(), 0)
            self.assertEqual(store.set_aside(), [])
        finally:
            server.close()

    def test_the_record_types_carry_what_an_app_shows(self):
        at = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        doc = g.SetAsideDoc(
            doc_id="invalid:0123456789abcdef",
            code=g.RejectCode.INVALID_ID,
            field="doc_id",
            reason="the document id does not follow the id rule",
            changes=2,
            first_seen_ms=at,
            last_seen_ms=at,
        )
        self.assertEqual(doc.code, g.RejectCode.INVALID_ID)
        hold = g.QuotaHold(reason="daily quota", at_ms=at, held=3)
        self.assertEqual(hold.held, 3)


if __name__ == "__main__":
    unittest.main()
