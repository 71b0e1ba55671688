"""What the CLI could do and the apps could not (issue 9): full photos on demand, photo counters and
typed phases of a sync, leaving quarantine, per-kind list fields, the store's path."""

import os
import unittest

import gridwork as g
from support import GRID, PASSWORDS, Server, new_report, scratch_dir
from test_photos import png


class Phases(g.SyncProgressObserver):
    def __init__(self):
        self.seen = []

    def on_progress(self, progress):
        self.seen.append(progress.phase)


class Parity(unittest.TestCase):
    def setUp(self):
        self.dir = scratch_dir("parity")
        self.server = Server().start()

    def tearDown(self):
        self.server.close()

    def signed_in(self, name, user, role, grids=None):
        store = g.GridworkStore.open(os.path.join(self.dir, name + ".db"), user, role, grids)
        session = store.sign_in(self.server.url, user, PASSWORDS[user], name)
        return store, session

    def test_full_photos_on_demand_and_photo_counters(self):
        worker, _ = self.signed_in("worker-phone", "worker", g.Role.WORKER)
        rid = worker.create_report(new_report("消防栓被遮挡", submit=True))
        # Larger than a thumbnail (320 px), so the two differ.
        photo = worker.add_photo(rid, png(640, 480), "东侧消防栓", None)
        self.assertNotEqual(photo.hash, photo.thumb_hash)
        phases = Phases()
        up = worker.sync(phases)
        self.assertGreaterEqual(up.photos_uploaded, 1, up)
        self.assertEqual(up.photos_pending, 0)
        for phase in (g.SyncPhase.PUSH, g.SyncPhase.PULL, g.SyncPhase.PHOTOS):
            self.assertIn(phase, phases.seen)

        sup, _ = self.signed_in("supervisor-desk", "supervisor", g.Role.SUPERVISOR)
        down = sup.sync(None)
        self.assertGreaterEqual(down.photos_downloaded, 1, down)
        self.assertEqual(sup.photo_bytes(photo.thumb_hash)[:2], b"\xff\xd8", "the thumbnail is here")
        with self.assertRaises(g.GridworkError.NotFound):
            sup.photo_bytes(photo.hash)
        full = sup.fetch_photo(photo.hash)
        self.assertEqual(full, worker.photo_bytes(photo.hash))
        self.assertEqual(sup.photo_bytes(photo.hash), full, "a fetched photo stays on the device")
        with self.assertRaises(g.GridworkError.NotFound):
            sup.fetch_photo("0" * 64)
        with self.assertRaises(g.GridworkError.InvalidInput):
            sup.fetch_photo("../etc/passwd")
        self.assertEqual(sup.path(), os.path.join(self.dir, "supervisor-desk.db"))

    def test_discard_quarantined_leaves_quarantine(self):
        path = os.path.join(self.dir, "w.db")
        store = g.GridworkStore.open(path, "worker", g.Role.WORKER, None)
        user_id = store.sign_in(self.server.url, "worker", PASSWORDS["worker"], "phone").user_id
        rid = store.create_report(new_report("楼道堆物", submit=True))
        r = store.sync(None)
        self.assertGreaterEqual(r.accepted, 1)
        self.assertEqual(r.rejected, 0)
        del store

        # A tampered app claims the supervisor role and approves its own report: refused.
        store = g.GridworkStore.open(path, user_id, g.Role.SUPERVISOR, [GRID])
        store.transition_report(rid, g.ReportStatus.APPROVED, None)
        self.assertEqual(store.sync(None).rejected, 1)
        self.assertEqual([q.doc_id for q in store.quarantine()], [rid])
        self.assertEqual(store.get(rid).record.report.status, g.ReportStatus.APPROVED)
        self.assertEqual(store.discard_quarantined("r-not-there"), 0)
        self.assertEqual(store.discard_quarantined(rid), 1)
        self.assertEqual(store.quarantine(), [])
        self.assertEqual(store.get(rid).record.report.status, g.ReportStatus.SUBMITTED)
        self.assertEqual(store.pending_count(), 0)
        self.assertEqual(store.discard_quarantined(rid), 0)


class Summaries(unittest.TestCase):
    def test_summaries_carry_per_kind_fields(self):
        d = scratch_dir("summaries")
        worker = g.GridworkStore.open(os.path.join(d, "w.db"), "worker", g.Role.WORKER, [GRID])
        rid = worker.create_report(new_report("井盖缺失"))
        hid = worker.create_household(g.NewHousehold(grid=GRID, address="芙蓉街12号"))
        vid = worker.create_visit(g.NewVisit(grid=GRID, household_id=hid, visit_type=g.VisitType.ELDERLY_CARE))
        (report,) = [s for s in worker.list(g.ListQuery(kind=g.RecordKind.REPORT)).items if s.id == rid]
        self.assertEqual(report.category, g.ReportCategory.FIRE_HAZARD)
        self.assertEqual(report.severity, 2)
        self.assertIsNone(report.visit_type)
        self.assertIsNone(report.priority)
        self.assertEqual(report.status, "draft")
        (visit,) = [s for s in worker.list(g.ListQuery(kind=g.RecordKind.VISIT)).items if s.id == vid]
        self.assertEqual(visit.visit_type, g.VisitType.ELDERLY_CARE)
        self.assertIsNone(visit.category)
        self.assertEqual(visit.household_id, hid)

        leader = g.GridworkStore.open(os.path.join(d, "l.db"), "leader", g.Role.LEADER, [GRID])
        tid = leader.create_task(g.NewTask(grid=GRID, title="清理楼道", assignees=["worker"], priority=g.Priority.URGENT, due="2026-06-01"))
        (task,) = [s for s in leader.list(g.ListQuery(kind=g.RecordKind.TASK)).items if s.id == tid]
        self.assertEqual(task.priority, g.Priority.URGENT)
        self.assertIsNone(task.category)
        self.assertIsNone(task.severity)
        self.assertEqual(task.status, "assigned")
        self.assertEqual([s.id for s in leader.list(g.ListQuery(kind=g.RecordKind.TASK, statuses=["assigned"])).items], [tid])
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            leader.list(g.ListQuery(statuses=["nonsense"]))
        self.assertEqual(cm.exception.field, "status")
        self.assertEqual(task.due, "2026-06-01")


if __name__ == "__main__":
    unittest.main()
