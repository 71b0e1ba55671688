// Photos through the bindings: attach, read back, and refuse what is not an image.
package org.gridwork.tests

import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.io.File
import java.time.Instant
import javax.imageio.ImageIO
import org.gridwork.core.*

private fun png(width: Int, height: Int): ByteArray {
    val img = BufferedImage(width, height, BufferedImage.TYPE_INT_RGB)
    for (y in 0 until height) for (x in 0 until width) img.setRGB(x, y, (x * 4 % 256 shl 16) or (y * 5 % 256 shl 8) or 128)
    return ByteArrayOutputStream().also { ImageIO.write(img, "png", it) }.toByteArray()
}

fun photosAttachReadBackAndRefuseJunk(): Unit =
    GridworkStore.open(File(scratchDir("photos"), "w.db").path, "worker", Role.WORKER, listOf(GRID)).use { store ->
        val rid = store.createReport(newReport("消防栓被遮挡"))
        val taken = Instant.parse("2026-05-01T09:30:00Z")
        val photo = store.addPhoto(rid, png(64, 48), "东侧消防栓", taken)
        assertEq(64u to 48u, photo.width to photo.height, "size")
        assertEq(taken, photo.takenAt, "taken at")
        assertEq(listOf(photo), (store.get(rid).record as AnyRecord.Report).report.photos, "photos of the report")
        for (h in listOf(photo.hash, photo.thumbHash)) {
            val bytes = store.photoBytes(h)
            check(bytes[0] == 0xFF.toByte() && bytes[1] == 0xD8.toByte()) { "stored as JPEG" }
        }
        val bad = assertThrows<GridworkException.InvalidInput>("a truncated PNG") { store.addPhoto(rid, png(8, 8).copyOf(30)) }
        assertEq("photo", bad.field, "field")
        assertThrows<GridworkException.NotFound>("an unknown hash") { store.photoBytes("0".repeat(64)) }
        store.removePhoto(rid, photo.hash)
        assertEq(emptyList<PhotoRef>(), (store.get(rid).record as AnyRecord.Report).report.photos, "photos after removal")
    }
