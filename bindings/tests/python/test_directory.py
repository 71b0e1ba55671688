"""The team directory through the Python bindings, against a real gridwork-server on loopback."""

import os
import unittest

import gridwork as g
from support import PASSWORDS, Server, scratch_dir


class Directory(unittest.TestCase):
    def setUp(self):
        self.dir = scratch_dir("directory")
        self.server = Server().start()

    def tearDown(self):
        self.server.close()

    def test_names_places_and_which_grid_offline(self):
        leader = g.GridworkStore.open(os.path.join(self.dir, "leader.db"), "leader", g.Role.LEADER)
        leader.sign_in(self.server.url, "leader", PASSWORDS["leader"], "leader-phone")
        self.assertEqual(leader.directory(), [], "nothing before a sync")
        self.assertGreater(leader.sync(None).directory_updated, 0, "the directory arrives")
        self.assertEqual(leader.sync(None).directory_updated, 0, "nothing when unchanged")
        self.server.stop()

        # Offline from here on.
        people = {p.username: p for p in leader.directory()}
        self.assertIn("worker", people)
        self.assertNotIn("worker2", people, "another community's worker")
        worker = people["worker"]
        self.assertEqual(leader.label(worker.id), "张伟 (worker)")
        self.assertEqual(leader.person(worker.id), worker)
        self.assertIsNone(leader.person("never-seen"))
        self.assertEqual(leader.label("never-seen"), "never-seen")
        self.assertEqual(people["supervisor"].phone, "0531-8601-0001")
        self.assertEqual([p.username for p in leader.assignable("furong-01")], ["worker", "leader"])
        self.assertEqual(leader.find_person("张伟").id, worker.id)
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            leader.find_person("李娜")
        self.assertEqual(cm.exception.field, "to")
        units = {u.id: u for u in leader.units()}
        self.assertEqual(units["furong-01"].kind, g.UnitKind.GRID)
        self.assertIsNotNone(units["furong-01"].boundary)
        self.assertEqual(leader.grid_at(36.665, 117.020), g.GridAt.IN(grid="furong-01"))
        self.assertEqual(leader.grid_at(36.665, 117.004), g.GridAt.OUTSIDE())


if __name__ == "__main__":
    unittest.main()
