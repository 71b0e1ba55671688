// What the CLI could do and the apps could not (issue 9): full photos on demand, photo counters
// and typed phases of a sync, leaving quarantine, per-kind list fields, the store's path.
package org.gridwork.tests

import java.io.File
import org.gridwork.core.*

private class Phases : SyncProgressObserver {
    val seen = java.util.Collections.synchronizedList(mutableListOf<SyncPhase>())
    override fun onProgress(progress: SyncProgress) {
        seen.add(progress.phase)
    }
}

private fun jpeg(bytes: ByteArray): Boolean = bytes.size > 2 && bytes[0] == 0xFF.toByte() && bytes[1] == 0xD8.toByte()

/** A small PNG (PhotosTest.kt's `png` is private to its file). */
private fun image(width: Int, height: Int): ByteArray {
    val img = java.awt.image.BufferedImage(width, height, java.awt.image.BufferedImage.TYPE_INT_RGB)
    for (y in 0 until height) for (x in 0 until width) img.setRGB(x, y, (x * 3 % 256 shl 16) or (y * 7 % 256 shl 8) or 64)
    return java.io.ByteArrayOutputStream().also { javax.imageio.ImageIO.write(img, "png", it) }.toByteArray()
}

fun fullPhotosOnDemandAndPhotoCounters() {
    val dir = scratchDir("fetch-photo")
    Server().start().use { server ->
        GridworkStore.open(File(dir, "w.db").path, "worker", Role.WORKER).use { worker ->
            worker.signIn(server.url, "worker", PASSWORDS.getValue("worker"), "worker-phone")
            val rid = worker.createReport(newReport("消防栓被遮挡", submit = true))
            // Larger than a thumbnail (320 px), so the two differ.
            val photo = worker.addPhoto(rid, image(640, 480), "东侧消防栓")
            check(photo.hash != photo.thumbHash) { "a thumbnail of its own" }
            val phases = Phases()
            val up = worker.sync(phases)
            check(up.photosUploaded >= 1uL) { "the worker's sync uploads the photo: $up" }
            assertEq(0uL, up.photosPending, "photos pending after the upload")
            check(SyncPhase.PUSH in phases.seen && SyncPhase.PULL in phases.seen && SyncPhase.PHOTOS in phases.seen) {
                "typed phases push, pull and photos: ${phases.seen}"
            }

            GridworkStore.open(File(dir, "s.db").path, "supervisor", Role.SUPERVISOR).use { sup ->
                sup.signIn(server.url, "supervisor", PASSWORDS.getValue("supervisor"), "supervisor-desk")
                val down = sup.sync()
                check(down.photosDownloaded >= 1uL) { "the supervisor's sync downloads the thumbnail: $down" }
                check(jpeg(sup.photoBytes(photo.thumbHash))) { "the thumbnail is on the supervisor's device" }
                assertThrows<GridworkException.NotFound>("the full photo is not synced") { sup.photoBytes(photo.hash) }
                val full = sup.fetchPhoto(photo.hash)
                check(full.contentEquals(worker.photoBytes(photo.hash))) { "the fetched photo is the worker's" }
                check(sup.photoBytes(photo.hash).contentEquals(full)) { "a fetched photo stays on the device" }
                assertThrows<GridworkException.NotFound>("a photo nobody has") { sup.fetchPhoto("0".repeat(64)) }
                assertThrows<GridworkException.InvalidInput>("a hash that is not one") { sup.fetchPhoto("../etc/passwd") }
            }
        }
        // The server gone: a photo not on the device is a retryable network error.
        server.stop()
        GridworkStore.openDevice(File(dir, "s.db").path, newStoreKey()).use { sup ->
            assertEq(File(dir, "s.db").path, sup.path(), "the store's path")
            val e = assertThrows<GridworkException.Network>("fetch with the server down") { sup.fetchPhoto("1".repeat(64)) }
            check(e.retryable) { "retryable" }
        }
    }
}

fun discardQuarantinedLeavesQuarantine() {
    val path = File(scratchDir("discard"), "w.db").path
    Server().start().use { server ->
        val (rid, userId) = GridworkStore.open(path, "worker", Role.WORKER).use { store ->
            val userId = store.signIn(server.url, "worker", PASSWORDS.getValue("worker"), "phone").userId
            val rid = store.createReport(newReport("楼道堆物", submit = true))
            val r = store.sync()
            check(r.accepted >= 1uL && r.rejected == 0uL) { "accepted: $r" }
            rid to userId
        }
        // A tampered app: the worker's device claims the supervisor role and approves its own
        // report; the server refuses, the change is quarantined.
        GridworkStore.open(path, userId, Role.SUPERVISOR, listOf(GRID)).use { store ->
            store.transitionReport(rid, ReportStatus.APPROVED)
            val r = store.sync()
            assertEq(1uL, r.rejected, "refused")
            val q = store.quarantine()
            assertEq(listOf(rid), q.map { it.docId }, "quarantined record")
            assertEq(ReportStatus.APPROVED, (store.get(rid).record as AnyRecord.Report).report.status, "the device still shows its refused change")
            assertEq(0uL, store.discardQuarantined("r-not-there"), "a record without refused changes")
            assertEq(1uL, store.discardQuarantined(rid), "discarded changes")
            assertEq(emptyList<QuarantinedChange>(), store.quarantine(), "quarantine after discarding")
            assertEq(ReportStatus.SUBMITTED, (store.get(rid).record as AnyRecord.Report).report.status, "back to what the server accepted")
            assertEq(0uL, store.pendingCount(), "nothing pending")
            assertEq(0uL, store.discardQuarantined(rid), "discarding twice")
        }
    }
}

fun summariesCarryPerKindFields() {
    val dir = scratchDir("summaries")
    GridworkStore.open(File(dir, "w.db").path, "worker", Role.WORKER, listOf(GRID)).use { worker ->
        val rid = worker.createReport(newReport("井盖缺失"))
        val hid = worker.createHousehold(NewHousehold(grid = GRID, address = "芙蓉街12号"))
        val vid = worker.createVisit(NewVisit(grid = GRID, householdId = hid, visitType = VisitType.ELDERLY_CARE))
        val report = worker.list(ListQuery(kind = RecordKind.REPORT)).items.single { it.id == rid }
        assertEq(ReportCategory.FIRE_HAZARD, report.category, "report category")
        assertEq(2.toUByte(), report.severity, "report severity")
        assertEq(null, report.visitType, "a report has no visit type")
        assertEq("draft", report.status, "report status, by name as core keeps it")
        val visit = worker.list(ListQuery(kind = RecordKind.VISIT)).items.single { it.id == vid }
        assertEq(VisitType.ELDERLY_CARE, visit.visitType, "visit type")
        assertEq(null, visit.category, "a visit has no report category")
        assertEq(hid, visit.householdId, "household of the visit")
    }
    GridworkStore.open(File(dir, "l.db").path, "leader", Role.LEADER, listOf(GRID)).use { leader ->
        val tid = leader.createTask(NewTask(grid = GRID, title = "清理楼道", assignees = listOf("worker"), priority = Priority.URGENT, due = "2026-06-01"))
        val task = leader.list(ListQuery(kind = RecordKind.TASK)).items.single { it.id == tid }
        assertEq(Priority.URGENT, task.priority, "task priority")
        assertEq(null, task.category, "a task has no report category")
        assertEq(null, task.severity, "a task has no severity")
        assertEq("assigned", task.status, "task status")
        val assigned = leader.list(ListQuery(kind = RecordKind.TASK, statuses = listOf("assigned"))).items.map { it.id }
        assertEq(listOf(tid), assigned, "filter by status name")
        val badStatus = assertThrows<GridworkException.InvalidInput>("unknown status") { leader.list(ListQuery(statuses = listOf("nonsense"))) }
        assertEq("status", badStatus.field, "field")
        assertEq("2026-06-01", task.due, "due")
    }
}
