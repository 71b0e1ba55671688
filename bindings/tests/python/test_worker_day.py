"""A grid worker's day through the Python bindings, against a real gridwork-server on loopback."""

import datetime
import os
import unittest

import gridwork as g
from support import GRID, PASSWORDS, Recorder, Server, new_report, scratch_dir

TITLE = "楼道堆放杂物堵塞消防通道"
DESCRIPTION = "三号楼二单元一楼楼道堆放大量纸箱和旧家具，住户反映已有两周。"
RETURN_COMMENT = "请补充现场照片并注明具体楼层"


class Progress(g.SyncProgressObserver):
    def __init__(self):
        self.phases = []

    def on_progress(self, progress):
        self.phases.append(progress.phase)


class WorkerDay(unittest.TestCase):
    def setUp(self):
        self.dir = scratch_dir("worker-day")
        self.server = Server().start()

    def tearDown(self):
        self.server.close()

    def open(self, name, user, role):
        store = g.GridworkStore.open(os.path.join(self.dir, name + ".db"), user, role)
        session = store.sign_in(self.server.url, user, PASSWORDS[user], name)
        self.assertEqual(session.role, role)
        return store

    def test_a_workers_day(self):
        worker = self.open("worker-phone", "worker", g.Role.WORKER)
        seen = Recorder()
        handle = worker.subscribe(seen)
        self.assertIsNotNone(worker.session())

        # Morning patrol: a report with Chinese text and GPS, then an edit.
        here = g.Location(lat=36.6646, lon=117.0203, accuracy_m=6.5, address="芙蓉街12号")
        rid = worker.create_report(new_report("楼道堆放杂物", DESCRIPTION, submit=False, location=here))
        self.assertTrue(seen.saw(rid, False), "the observer is told about a local create")
        worker.update_report(rid, g.ReportPatch(title=TITLE, severity=3))
        worker.transition_report(rid, g.ReportStatus.SUBMITTED)
        stored = worker.get(rid)
        self.assertEqual(stored.kind, g.RecordKind.REPORT)
        report = stored.record.report
        self.assertEqual(report.title, TITLE)
        self.assertEqual(report.location, here)
        self.assertEqual(report.status, g.ReportStatus.SUBMITTED)
        self.assertIsInstance(report.created_at, datetime.datetime)
        page = worker.list(g.ListQuery(kind=g.RecordKind.REPORT, grid=GRID, open_only=True))
        self.assertIn(rid, [s.id for s in page.items])
        self.assertEqual([s.id for s in worker.search("纸箱和旧家具")], [rid])

        # A visit to a household.
        hid = worker.create_household(g.NewHousehold(grid=GRID, address="芙蓉街12号3单元201", members=[g.Member(name="王秀兰", birth_year=1938, tags=[g.MemberTag.ELDERLY_LIVING_ALONE])]))
        vid = worker.create_visit(g.NewVisit(grid=GRID, household_id=hid, visit_type=g.VisitType.ELDERLY_CARE, notes="老人独居，血压偏高，需要送药上门", needs=[g.Need(tag=g.NeedTag.MEDICAL, note="每周送药")]))
        self.assertEqual(worker.get(vid).record.visit.needs[0].tag, g.NeedTag.MEDICAL)
        report = worker.sync(Progress())
        self.assertGreaterEqual(report.accepted, 1)
        self.assertEqual(worker.pending_count(), 0)
        self.assertIsNotNone(worker.last_sync_at())

        # Into a basement: the server is gone, work goes on.
        self.server.stop()
        worker.update_visit(vid, g.VisitPatch(notes="老人独居，血压偏高，已联系社区医生每周上门"))
        worker.add_comment(rid, "物业已通知清理")
        self.assertGreater(worker.pending_count(), 0)
        with self.assertRaises(g.GridworkError.Network) as cm:
            worker.sync(None)
        self.assertTrue(cm.exception.retryable)
        self.assertGreater(worker.pending_count(), 0, "a failed sync loses nothing")

        # Back above ground: the server restarts (same data) and the worker syncs.
        self.server.start()
        worker.sync(None)
        self.assertEqual(worker.pending_count(), 0)

        # The supervisor syncs, returns the report with a comment.
        supervisor = self.open("supervisor-desk", "supervisor", g.Role.SUPERVISOR)
        sup_seen = Recorder()
        sup_handle = supervisor.subscribe(sup_seen)
        supervisor.sync(None)
        self.assertTrue(sup_seen.saw(rid, True), "the supervisor's observer is told about pulled records")
        self.assertEqual(supervisor.get(rid).record.report.title, TITLE)
        supervisor.transition_report(rid, g.ReportStatus.RETURNED, RETURN_COMMENT)
        supervisor.sync(None)

        # The worker syncs and sees the status and the comment.
        worker.sync(None)
        back = worker.get(rid).record.report
        self.assertEqual(back.status, g.ReportStatus.RETURNED)
        self.assertIn(RETURN_COMMENT, [c.text for c in back.comments])
        self.assertIn("物业已通知清理", [c.text for c in back.comments])
        self.assertEqual(back.transitions[-1].role, g.Role.SUPERVISOR)
        self.assertTrue(seen.saw(rid, True), "the worker's observer is told about the returned report")
        self.assertEqual(worker.get(vid).record.visit.notes, "老人独居，血压偏高，已联系社区医生每周上门")
        users = {h.user_id for h in worker.history(rid)}
        self.assertGreaterEqual(len(users), 2, "history shows both people")
        self.assertFalse(any(h.console for h in worker.history(rid)),
                         "changes made on phones are not the web console's")
        handle.cancel()
        sup_handle.cancel()

        # The app restarts: the device reopens signed in as the worker.
        path = os.path.join(self.dir, "worker-phone.db")
        del worker
        reopened = g.GridworkStore.open_device(path, g.new_store_key())
        self.assertEqual(reopened.identity().user_id, reopened.session().user_id)
        self.assertEqual(reopened.identity().role, g.Role.WORKER)
        self.assertEqual(reopened.get(rid).record.report.status, g.ReportStatus.RETURNED)

    def test_bad_password_is_unauthorized(self):
        store = g.GridworkStore.open(os.path.join(self.dir, "bad.db"), "worker", g.Role.WORKER)
        with self.assertRaises(g.GridworkError.Unauthorized):
            store.sign_in(self.server.url, "worker", "not-the-password", "phone")
        self.assertIsNone(store.session())


class OfflineMerge(unittest.TestCase):
    """Two devices without a server: export from one, import into the other."""

    def test_export_import_between_two_devices(self):
        d = scratch_dir("merge")
        worker = g.GridworkStore.open(os.path.join(d, "w.db"), "worker", g.Role.WORKER, [GRID])
        supervisor = g.GridworkStore.open(os.path.join(d, "s.db"), "supervisor", g.Role.SUPERVISOR)
        seen, sup_seen = Recorder(), Recorder()
        h1, h2 = worker.subscribe(seen), supervisor.subscribe(sup_seen)
        rid = worker.create_report(new_report(TITLE, DESCRIPTION, submit=True, location=g.Location(lat=36.66, lon=117.02, accuracy_m=5.0)))
        exported = worker.export_changes(0)
        self.assertEqual(supervisor.import_changes(exported.bytes), [rid])
        self.assertTrue(sup_seen.saw(rid, True))
        supervisor.transition_report(rid, g.ReportStatus.RETURNED, RETURN_COMMENT)
        self.assertIn(rid, worker.import_changes(supervisor.export_changes(0).bytes))
        back = worker.get(rid).record.report
        self.assertEqual(back.status, g.ReportStatus.RETURNED)
        self.assertEqual(back.comments[-1].text, RETURN_COMMENT)
        self.assertTrue(seen.saw(rid, False) and seen.saw(rid, True))
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            worker.import_changes(b"not an export")
        self.assertEqual(cm.exception.field, "changes")
        h1.cancel()
        h2.cancel()


if __name__ == "__main__":
    unittest.main()
