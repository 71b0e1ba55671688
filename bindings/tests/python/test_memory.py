"""Creating and dropping many objects through the bindings does not grow the process without bound."""

import gc
import os
import unittest

import gridwork as g
from support import GRID, Recorder, new_report, rss_bytes, scratch_dir

ROUNDS = 10_000
MAX_GROWTH = 24 * 1024 * 1024


class Memory(unittest.TestCase):
    def test_ten_thousand_objects_come_and_go(self):
        d = scratch_dir("memory")
        store = g.GridworkStore.open(os.path.join(d, "w.db"), "worker", g.Role.WORKER, [GRID])
        rid = store.create_report(new_report("内存测试", "反复创建和释放对象"))

        def churn(n):
            for i in range(n):
                handle = store.subscribe(Recorder())  # an object holding a foreign callback
                if i % 2:
                    handle.cancel()
                del handle
                store.get(rid)  # a record crossing by value
                store.list(g.ListQuery(limit=5))
                if i % 100 == 0:
                    g.GridworkStore.open(os.path.join(d, "w.db"), "worker", g.Role.WORKER)  # a whole store

        churn(1_000)  # warm up caches and allocator pools
        gc.collect()
        before = rss_bytes()
        churn(ROUNDS)
        gc.collect()
        after = rss_bytes()
        growth = after - before
        print(f"memory: RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB after {ROUNDS} rounds")
        self.assertLess(growth, MAX_GROWTH, f"RSS grew by {growth / 2**20:.1f} MiB")
        # A dropped handle unsubscribes: its observer is not called again.
        dropped = Recorder()
        handle = store.subscribe(dropped)
        del handle
        gc.collect()
        seen = Recorder()
        handle = store.subscribe(seen)
        store.update_report(rid, g.ReportPatch(severity=4))
        self.assertEqual(seen.count(), 1)
        self.assertEqual(dropped.count(), 0)
        handle.cancel()


if __name__ == "__main__":
    unittest.main()
