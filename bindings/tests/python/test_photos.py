"""Photos through the bindings: attach, read back, and refuse what is not an image."""

import datetime
import os
import struct
import unittest
import zlib

import gridwork as g
from support import GRID, new_report, scratch_dir


def png(width, height):
    """A small RGB PNG, made here so the test needs no image library."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(width)) for y in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Photos(unittest.TestCase):
    def test_attach_read_back_and_refuse_junk(self):
        store = g.GridworkStore.open(os.path.join(scratch_dir("photos"), "w.db"), "worker", g.Role.WORKER, [GRID])
        rid = store.create_report(new_report("消防栓被遮挡"))
        taken = datetime.datetime(2026, 5, 1, 9, 30, tzinfo=datetime.timezone.utc)
        photo = store.add_photo(rid, png(64, 48), "东侧消防栓", taken)
        self.assertEqual((photo.width, photo.height), (64, 48))
        self.assertEqual(photo.taken_at, taken)
        self.assertEqual(store.get(rid).record.report.photos, [photo])
        for h in (photo.hash, photo.thumb_hash):
            self.assertEqual(store.photo_bytes(h)[:2], b"\xff\xd8", "stored as JPEG")
        with self.assertRaises(g.GridworkError.InvalidInput) as cm:
            store.add_photo(rid, b"\x89PNG\r\n\x1a\n truncated", None, None)
        self.assertEqual(cm.exception.field, "photo")
        with self.assertRaises(g.GridworkError.NotFound):
            store.photo_bytes("0" * 64)
        store.remove_photo(rid, photo.hash)
        self.assertEqual(store.get(rid).record.report.photos, [])


if __name__ == "__main__":
    unittest.main()
