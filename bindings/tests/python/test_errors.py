"""Errors cross as one typed exception whose variants say what the app can do."""

import os
import unittest

import gridwork as g
from support import GRID, Server, new_report, scratch_dir


class Errors(unittest.TestCase):
    def setUp(self):
        self.store = g.GridworkStore.open(os.path.join(scratch_dir("errors"), "w.db"), "worker", g.Role.WORKER, [GRID])

    def test_invalid_input_names_the_field(self):
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            self.store.create_report(new_report(""))
        self.assertEqual(cm.exception.field, "title")
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            self.store.create_report(new_report("坐标错误", location=g.Location(lat=123.0, lon=117.0, accuracy_m=5.0)))
        self.assertEqual(cm.exception.field, "location.lat")
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            self.store.list(g.ListQuery(limit=0))
        self.assertEqual(cm.exception.field, "limit")
        self.assertEqual(self.store.pending_count(), 0, "nothing was stored")

    def test_malformed_ids_are_invalid_input_naming_the_field(self):
        rid = self.store.create_report(new_report("井盖缺失"))
        for bad in ["a b", "x" * 65, ""]:
            calls = [
                # Ids inside a record argument: checked when the record is stored.
                ("grid", lambda: self.store.create_report(g.NewReport(grid=bad, category=g.ReportCategory.OTHER, severity=1, title="t"))),
                ("household_id", lambda: self.store.create_visit(g.NewVisit(grid=GRID, household_id=bad, visit_type=g.VisitType.ROUTINE))),
                ("linked_report", lambda: self.store.create_task(g.NewTask(grid=GRID, title="t", assignees=["worker"], priority=g.Priority.LOW, linked_report=bad))),
                # An id argument (a RecordId): its failed lift is the call's typed error.
                ("id", lambda: self.store.update_report(bad, g.ReportPatch(title="新标题"))),
                ("id", lambda: self.store.get(bad)),
                ("record_id", lambda: self.store.remove_photo(bad, "0" * 64)),
            ]
            for field, call in calls:
                with self.subTest(id=bad, field=field):
                    with self.assertRaises(g.GridworkError.InvalidInput) as cm:
                        call()
                    self.assertEqual(cm.exception.field, field)
                    if bad:
                        self.assertNotIn(bad, cm.exception.reason)
        self.assertEqual(self.store.get(rid).record.report.title, "井盖缺失")
        self.assertEqual(self.store.pending_count(), 1, "only the first report was stored")

    def test_not_found_not_permitted_and_conflict(self):
        with self.assertRaises(g.GridworkError.NotFound):
            self.store.get("0190a0b0-0000-7000-8000-000000000000")
        rid = self.store.create_report(new_report("消防通道被占用", submit=True))
        with self.assertRaises(g.GridworkError.NotPermitted) as cm:
            self.store.transition_report(rid, g.ReportStatus.APPROVED)
        self.assertEqual(cm.exception.field, "status")
        with self.assertRaises(g.GridworkError.Conflict):
            self.store.transition_report(rid, g.ReportStatus.CLOSED)
        self.assertIsInstance(g.GridworkError.Conflict("x"), g.GridworkError)

    def test_not_a_database_is_storage_corrupt(self):
        # A SQLite header over garbage: corrupt.
        path = os.path.join(scratch_dir("corrupt"), "broken.db")
        with open(path, "wb") as f:
            f.write(b"SQLite format 3\x00" + b"\xa5" * 8192)
        with self.assertRaises(g.GridworkError.StorageCorrupt):
            g.GridworkStore.open(path, "worker", g.Role.WORKER)
        # Anything else may be an encrypted store: the key is what is wrong, never delete it.
        junk = os.path.join(scratch_dir("corrupt"), "junk.db")
        with open(junk, "wb") as f:
            f.write(b"this is not a database" * 200)
        with self.assertRaises(g.GridworkError.WrongKey):
            g.GridworkStore.open(junk, "worker", g.Role.WORKER)
        with self.assertRaises(g.GridworkError.WrongKey):
            g.GridworkStore.open_device(junk, g.new_store_key())

    def test_a_panic_does_not_cross_the_boundary(self):
        with self.assertRaises(g.InternalError) as cm:
            g.debug_panic("boom from the test hook")
        self.assertIn("boom from the test hook", str(cm.exception))
        rid = self.store.create_report(new_report("恐慌之后仍可写入"))
        self.assertEqual(self.store.get(rid).record.report.title, "恐慌之后仍可写入")

    def test_an_observer_that_raises_does_not_break_the_write(self):
        class Raises(g.ChangeObserver):
            def on_change(self, ids, remote):
                raise RuntimeError("observer bug")

        handle = self.store.subscribe(Raises())
        rid = self.store.create_report(new_report("观察者出错不影响保存"))
        self.assertEqual(self.store.get(rid).id, rid)
        handle.cancel()


class NetworkErrors(unittest.TestCase):
    def test_sync_with_the_server_down_is_retryable_and_loses_nothing(self):
        server = Server().start()
        try:
            store = g.GridworkStore.open(os.path.join(scratch_dir("down"), "w.db"), "worker", g.Role.WORKER)
            store.sign_in(server.url, "worker", "demo-worker", "phone")
            server.stop()
            rid = store.create_report(new_report("断网时记录的问题", "地下室没有信号"))
            pending = store.pending_count()
            self.assertGreater(pending, 0)
            with self.assertRaises(g.GridworkError.InvalidInput) as cm:
                store.sign_out(False)
            self.assertEqual(cm.exception.field, "sign_out", "sign-out refuses while changes are unsynced")
            with self.assertRaises(g.GridworkError.Network) as cm:
                store.sync(None)
            self.assertTrue(cm.exception.retryable)
            self.assertEqual(store.pending_count(), pending)
            self.assertEqual(store.get(rid).record.report.description, "地下室没有信号")
            server.start()
            store.sync(None)
            self.assertEqual(store.pending_count(), 0)
            store.sign_out(False)
            self.assertIsNone(store.session())
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
