"""The store is encrypted at rest under a key the app keeps in the platform keystore."""

import os
import unittest

import gridwork as g
from support import GRID, new_report, scratch_dir

ID_NUMBER = "370102194105060027"


def file_holds(path, needle):
    try:
        with open(path, "rb") as f:
            return needle.encode() in f.read()
    except FileNotFoundError:
        return False


class Encryption(unittest.TestCase):
    def test_an_encrypted_store_keeps_its_secrets_and_refuses_a_wrong_key(self):
        d = scratch_dir("encrypted")
        path = os.path.join(d, "w.db")
        key = g.new_store_key()
        self.assertEqual(len(key), 32)
        store = g.GridworkStore.open(path, "worker", g.Role.WORKER, [GRID], key)
        hid = store.create_household(g.NewHousehold(
            grid=GRID, address="芙蓉街20号", notes="",
            members=[g.Member(name="孙桂兰", id_number=ID_NUMBER, phone="13912345678", birth_year=1941, tags=[])]))
        del store
        for name in os.listdir(d):
            self.assertFalse(file_holds(os.path.join(d, name), ID_NUMBER), name)
        with open(path, "rb") as f:
            before = f.read()
        with self.assertRaises(g.GridworkError.WrongKey):
            g.GridworkStore.open_device(path, g.new_store_key())
        with self.assertRaises(g.GridworkError.WrongKey):
            g.GridworkStore.open(path, "worker", g.Role.WORKER)
        with open(path, "rb") as f:
            self.assertEqual(before, f.read(), "a wrong key changes nothing")
        new = g.new_store_key()
        g.rekey_store(path, key, new)
        with self.assertRaises(g.GridworkError.WrongKey):
            g.GridworkStore.open_device(path, key)
        store = g.GridworkStore.open(path, "worker", g.Role.WORKER, [GRID], new)
        self.assertEqual(store.get(hid).id, hid)
        # Masked by default; in full only with a reason, which is logged.
        self.assertEqual(store.get(hid).record.household.members[0].id_number, "370102********0027")
        with self.assertRaises(g.GridworkError.InvalidInput):
            store.get_full(hid, "")
        self.assertEqual(store.get_full(hid, "核实低保申请材料").record.household.members[0].id_number, ID_NUMBER)
        self.assertEqual([e.reason for e in store.access_log()], ["核实低保申请材料"])

    def test_a_key_of_the_wrong_length_is_invalid_input(self):
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            g.GridworkStore.open_device(os.path.join(scratch_dir("short-key"), "w.db"), b"\x00" * 16)
        self.assertEqual(cm.exception.field, "key")

    def test_a_plain_store_is_encrypted_on_first_open_with_a_key(self):
        d = scratch_dir("plain-to-encrypted")
        path = os.path.join(d, "w.db")
        store = g.GridworkStore.open(path, "worker", g.Role.WORKER, [GRID])
        rid = store.create_report(new_report("楼道堆放杂物 plain"))
        del store
        store = g.GridworkStore.open(path, "worker", g.Role.WORKER, [GRID], g.new_store_key())
        self.assertEqual(store.get(rid).id, rid)
        del store
        for name in os.listdir(d):
            self.assertFalse(file_holds(os.path.join(d, name), "楼道堆放杂物 plain"), name)


if __name__ == "__main__":
    unittest.main()
