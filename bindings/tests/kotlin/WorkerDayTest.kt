// A grid worker's day through the Kotlin bindings, against a real gridwork-server on loopback.
package org.gridwork.tests

import java.io.File
import java.time.Instant
import org.gridwork.core.*

private const val TITLE = "楼道堆放杂物堵塞消防通道"
private const val DESCRIPTION = "三号楼二单元一楼楼道堆放大量纸箱和旧家具，住户反映已有两周。"
private const val RETURN_COMMENT = "请补充现场照片并注明具体楼层"

private class Progress : SyncProgressObserver {
    val phases = java.util.Collections.synchronizedList(mutableListOf<SyncPhase>())
    override fun onProgress(progress: SyncProgress) {
        phases.add(progress.phase)
    }
}

private fun signedIn(dir: File, server: Server, device: String, user: String, role: Role): GridworkStore {
    val store = GridworkStore.open(File(dir, "$device.db").path, user, role)
    val session = store.signIn(server.url, user, PASSWORDS.getValue(user), device)
    assertEq(role, session.role, "role of the session")
    return store
}

fun aWorkersDay() {
    val dir = scratchDir("worker-day")
    Server().start().use { server ->
        val worker = signedIn(dir, server, "worker-phone", "worker", Role.WORKER)
        val seen = Recorder()
        val handle = worker.subscribe(seen)
        check(worker.session() != null) { "a session after sign-in" }

        // Morning patrol: a report with Chinese text and GPS, then an edit.
        val here = Location(lat = 36.6646, lon = 117.0203, accuracyM = 6.5, address = "芙蓉街12号")
        val rid = worker.createReport(newReport("楼道堆放杂物", DESCRIPTION, location = here))
        check(seen.saw(rid, false)) { "the observer is told about a local create" }
        worker.updateReport(rid, ReportPatch(title = TITLE, severity = 3u))
        worker.transitionReport(rid, ReportStatus.SUBMITTED)
        val stored = worker.get(rid)
        assertEq(RecordKind.REPORT, stored.kind, "kind")
        val report = (stored.record as AnyRecord.Report).report
        assertEq(TITLE, report.title, "title after the edit")
        assertEq(here, report.location, "location")
        assertEq(ReportStatus.SUBMITTED, report.status, "status")
        check(report.createdAt.isBefore(Instant.now().plusSeconds(1))) { "created_at is an Instant in the past" }
        val page = worker.list(ListQuery(kind = RecordKind.REPORT, grid = GRID, openOnly = true))
        check(page.items.any { it.id == rid }) { "the report is listed" }
        assertEq(listOf(rid), worker.search("纸箱和旧家具").map { it.id }, "search by Chinese substring")

        // A visit to a household.
        val hid = worker.createHousehold(NewHousehold(grid = GRID, address = "芙蓉街12号3单元201",
            members = listOf(Member(name = "王秀兰", birthYear = 1938, tags = listOf(MemberTag.ELDERLY_LIVING_ALONE)))))
        val vid = worker.createVisit(NewVisit(grid = GRID, householdId = hid, visitType = VisitType.ELDERLY_CARE,
            notes = "老人独居，血压偏高，需要送药上门", needs = listOf(Need(tag = NeedTag.MEDICAL, note = "每周送药"))))
        assertEq(NeedTag.MEDICAL, (worker.get(vid).record as AnyRecord.Visit).visit.needs[0].tag, "need tag")
        val progress = Progress()
        val first = worker.sync(progress)
        check(first.accepted >= 1u) { "the server accepted the changes: $first" }
        check(progress.phases.isNotEmpty()) { "the progress observer was called" }
        assertEq(0uL, worker.pendingCount(), "pending after sync")
        check(worker.lastSyncAt() != null) { "last sync time is set" }

        // Into a basement: the server is gone, work goes on.
        server.stop()
        worker.updateVisit(vid, VisitPatch(notes = "老人独居，血压偏高，已联系社区医生每周上门"))
        worker.addComment(rid, "物业已通知清理")
        check(worker.pendingCount() > 0uL) { "offline edits are pending" }
        val down = assertThrows<GridworkException.Network>("sync while offline") { worker.sync() }
        check(down.retryable) { "a network error while offline is retryable" }
        check(worker.pendingCount() > 0uL) { "a failed sync loses nothing" }

        // Back above ground: the server restarts (same data) and the worker syncs.
        server.start()
        worker.sync()
        assertEq(0uL, worker.pendingCount(), "pending after the restart sync")

        // The supervisor syncs and returns the report with a comment.
        val supervisor = signedIn(dir, server, "supervisor-desk", "supervisor", Role.SUPERVISOR)
        val supSeen = Recorder()
        val supHandle = supervisor.subscribe(supSeen)
        supervisor.sync()
        check(supSeen.saw(rid, true)) { "the supervisor's observer is told about pulled records" }
        assertEq(TITLE, (supervisor.get(rid).record as AnyRecord.Report).report.title, "title on the supervisor's device")
        supervisor.transitionReport(rid, ReportStatus.RETURNED, RETURN_COMMENT)
        supervisor.sync()

        // The worker syncs and sees the status and the comment.
        worker.sync()
        val back = (worker.get(rid).record as AnyRecord.Report).report
        assertEq(ReportStatus.RETURNED, back.status, "status after the supervisor returned it")
        check(back.comments.any { it.text == RETURN_COMMENT }) { "the supervisor's comment arrived" }
        check(back.comments.any { it.text == "物业已通知清理" }) { "the offline comment survived" }
        assertEq(Role.SUPERVISOR, back.transitions.last().role, "who returned it")
        check(seen.saw(rid, true)) { "the worker's observer is told about the returned report" }
        assertEq("老人独居，血压偏高，已联系社区医生每周上门", (worker.get(vid).record as AnyRecord.Visit).visit.notes, "offline visit edit")
        check(worker.history(rid).map { it.userId }.toSet().size >= 2) { "history shows both people" }
        check(worker.history(rid).none { it.console }) { "changes made on phones are not the web console's" }
        handle.close()
        supHandle.close()
        supervisor.close()
        worker.close()

        // The app restarts: the device reopens signed in as the worker.
        GridworkStore.openDevice(File(dir, "worker-phone.db").path, newStoreKey()).use { reopened ->
            assertEq(reopened.session()?.userId, reopened.identity().userId, "identity from the saved session")
            assertEq(Role.WORKER, reopened.identity().role, "role from the saved session")
            assertEq(ReportStatus.RETURNED, (reopened.get(rid).record as AnyRecord.Report).report.status, "status after reopening")
        }
    }
}

fun badPasswordIsUnauthorized() {
    Server().start().use { server ->
        GridworkStore.open(File(scratchDir("bad-password"), "w.db").path, "worker", Role.WORKER).use { store ->
            assertThrows<GridworkException.Unauthorized>("sign in with a wrong password") {
                store.signIn(server.url, "worker", "not-the-password", "phone")
            }
            check(store.session() == null) { "no session after a refused sign-in" }
        }
    }
}

fun exportImportBetweenTwoDevices() {
    val dir = scratchDir("merge")
    val worker = GridworkStore.open(File(dir, "w.db").path, "worker", Role.WORKER, listOf(GRID))
    val supervisor = GridworkStore.open(File(dir, "s.db").path, "supervisor", Role.SUPERVISOR)
    val seen = Recorder()
    val supSeen = Recorder()
    worker.subscribe(seen).use {
        supervisor.subscribe(supSeen).use {
            val rid = worker.createReport(newReport(TITLE, DESCRIPTION, submit = true, location = Location(36.66, 117.02, 5.0)))
            assertEq(listOf(rid), supervisor.importChanges(worker.exportChanges().bytes), "imported ids")
            check(supSeen.saw(rid, true)) { "import notifies as remote" }
            supervisor.transitionReport(rid, ReportStatus.RETURNED, RETURN_COMMENT)
            check(rid in worker.importChanges(supervisor.exportChanges(0).bytes)) { "the worker imports the return" }
            val back = (worker.get(rid).record as AnyRecord.Report).report
            assertEq(ReportStatus.RETURNED, back.status, "status")
            assertEq(RETURN_COMMENT, back.comments.last().text, "comment")
            check(seen.saw(rid, false) && seen.saw(rid, true)) { "local and remote notifications" }
            val bad = assertThrows<GridworkException.InvalidInput>("import junk") { worker.importChanges("not an export".toByteArray()) }
            assertEq("changes", bad.field, "field of a bad import")
        }
    }
    worker.close()
    supervisor.close()
}
