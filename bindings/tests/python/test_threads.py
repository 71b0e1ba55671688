"""The store object is used from many threads; a long sync does not block reads or lose writes."""

import os
import threading
import unittest

import gridwork as g
from support import GRID, PASSWORDS, Server, new_report, scratch_dir

THREADS = 8
WRITES_PER_THREAD = 25


class Threads(unittest.TestCase):
    def test_eight_threads_read_and_write_while_a_sync_runs(self):
        server = Server().start()
        try:
            store = g.GridworkStore.open(os.path.join(scratch_dir("threads"), "w.db"), "worker", g.Role.WORKER)
            store.sign_in(server.url, "worker", PASSWORDS["worker"], "phone")
            # Give the sync something to carry.
            for i in range(200):
                store.create_report(new_report(f"积压的巡查记录 {i}", "楼道消防设施检查" * 20))
            created = [[] for _ in range(THREADS)]
            errors = []
            start = threading.Barrier(THREADS + 1)

            def work(n):
                try:
                    start.wait()
                    for i in range(WRITES_PER_THREAD):
                        rid = store.create_report(new_report(f"线程{n}的记录{i}", "并发写入测试"))
                        created[n].append(rid)
                        store.update_report(rid, g.ReportPatch(severity=1 + i % 4))
                        store.get(rid)
                        store.list(g.ListQuery(kind=g.RecordKind.REPORT, limit=20))
                        store.search("并发写入", None, 10)
                        store.pending_count()
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            syncs = []

            def sync():
                try:
                    start.wait()
                    for _ in range(3):
                        syncs.append(store.sync(None))
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
            threads.append(threading.Thread(target=sync))
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            self.assertFalse(any(t.is_alive() for t in threads), "a thread hung")
            self.assertEqual(errors, [])
            self.assertEqual(len(syncs), 3)
            ids = [rid for per in created for rid in per]
            self.assertEqual(len(ids), THREADS * WRITES_PER_THREAD)
            self.assertEqual(len(set(ids)), len(ids))
            for rid in ids:
                self.assertEqual(store.get(rid).id, rid)
            # Everything reaches the server in the end.
            store.sync(None)
            self.assertEqual(store.pending_count(), 0)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
