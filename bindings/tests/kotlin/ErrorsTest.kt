// Errors cross as one typed exception whose variants say what the app can do.
package org.gridwork.tests

import java.io.File
import org.gridwork.core.*

private fun workerStore(name: String) = GridworkStore.open(File(scratchDir(name), "w.db").path, "worker", Role.WORKER, listOf(GRID))

fun invalidInputNamesTheField(): Unit = workerStore("invalid").use { store ->
    val e = assertThrows<GridworkException.InvalidInput>("empty title") { store.createReport(newReport("")) }
    assertEq("title", e.field, "field")
    val lat = assertThrows<GridworkException.InvalidInput>("latitude out of range") {
        store.createReport(newReport("坐标错误", location = Location(lat = 123.0, lon = 117.0, accuracyM = 5.0)))
    }
    assertEq("location.lat", lat.field, "field")
    val limit = assertThrows<GridworkException.InvalidInput>("page size 0") { store.list(ListQuery(limit = 0u)) }
    assertEq("limit", limit.field, "field")
    assertEq(0uL, store.pendingCount(), "nothing was stored")
}

fun malformedIdsAreInvalidInputNamingTheField(): Unit = workerStore("malformed-ids").use { store ->
    val rid = store.createReport(newReport("井盖缺失"))
    for (bad in listOf("a b", "x".repeat(65), "")) {
        fun expectField(field: String, what: String, call: () -> Unit) {
            val e = assertThrows<GridworkException.InvalidInput>("$what with id <$bad>") { call() }
            assertEq(field, e.field, "$what: field")
            check(bad.isEmpty() || !e.reason.contains(bad)) { "$what: the reason quotes the value: ${e.reason}" }
        }
        // Ids inside a record argument: checked when the record is stored.
        expectField("grid", "createReport") { store.createReport(NewReport(grid = bad, category = ReportCategory.OTHER, severity = 1u, title = "t")) }
        expectField("household_id", "createVisit") { store.createVisit(NewVisit(grid = GRID, householdId = bad, visitType = VisitType.ROUTINE)) }
        expectField("linked_report", "createTask") {
            store.createTask(NewTask(grid = GRID, title = "t", assignees = listOf("worker"), priority = Priority.LOW, linkedReport = bad))
        }
        // An id argument (a RecordId): its failed lift is the call's typed error, not an internal one.
        expectField("id", "updateReport") { store.updateReport(bad, ReportPatch(title = "新标题")) }
        expectField("id", "get") { store.get(bad) }
        expectField("record_id", "removePhoto") { store.removePhoto(bad, "0".repeat(64)) }
    }
    assertEq("井盖缺失", (store.get(rid).record as AnyRecord.Report).report.title, "the record is unchanged")
    assertEq(1uL, store.pendingCount(), "only the first report was stored")
}

fun notFoundNotPermittedAndConflict(): Unit = workerStore("not-found").use { store ->
    assertThrows<GridworkException.NotFound>("unknown id") { store.get("0190a0b0-0000-7000-8000-000000000000") }
    val rid = store.createReport(newReport("消防通道被占用", submit = true))
    val denied = assertThrows<GridworkException.NotPermitted>("a worker approves") { store.transitionReport(rid, ReportStatus.APPROVED) }
    assertEq("status", denied.field, "field")
    assertThrows<GridworkException.Conflict>("submitted to closed") { store.transitionReport(rid, ReportStatus.CLOSED) }
}

fun notADatabaseIsStorageCorrupt() {
    // A SQLite header over garbage: corrupt.
    val file = File(scratchDir("corrupt"), "broken.db")
    file.writeBytes("SQLite format 3\u0000".toByteArray() + ByteArray(8192) { 0xA5.toByte() })
    assertThrows<GridworkException.StorageCorrupt>("open a broken database") { GridworkStore.open(file.path, "worker", Role.WORKER) }
    // Anything else may be an encrypted store: the key is what is wrong, never delete it.
    val junk = File(scratchDir("corrupt"), "junk.db")
    junk.writeBytes("this is not a database".repeat(200).toByteArray())
    assertThrows<GridworkException.WrongKey>("open junk without a key") { GridworkStore.open(junk.path, "worker", Role.WORKER) }
    assertThrows<GridworkException.WrongKey>("open junk with a key") { GridworkStore.openDevice(junk.path, newStoreKey()) }
}

fun aPanicDoesNotCrossTheBoundary(): Unit = workerStore("panic").use { store ->
    val e = assertThrows<InternalException>("a panic in Rust") { debugPanic("boom from the test hook") }
    check(e.message.orEmpty().contains("boom from the test hook")) { "the panic message is kept: ${e.message}" }
    val rid = store.createReport(newReport("恐慌之后仍可写入"))
    assertEq("恐慌之后仍可写入", (store.get(rid).record as AnyRecord.Report).report.title, "the store still works")
}

fun anObserverThatThrowsDoesNotBreakTheWrite(): Unit = workerStore("observer-throws").use { store ->
    val throwing = object : ChangeObserver {
        override fun onChange(ids: List<String>, remote: Boolean) = throw IllegalStateException("observer bug")
    }
    store.subscribe(throwing).use {
        val rid = store.createReport(newReport("观察者出错不影响保存"))
        assertEq(rid, store.get(rid).id, "the write is stored")
    }
}

fun syncWithServerDownIsRetryable() {
    Server().start().use { server ->
        GridworkStore.open(File(scratchDir("down"), "w.db").path, "worker", Role.WORKER).use { store ->
            store.signIn(server.url, "worker", PASSWORDS.getValue("worker"), "phone")
            server.stop()
            val rid = store.createReport(newReport("断网时记录的问题", "地下室没有信号"))
            val pending = store.pendingCount()
            check(pending > 0uL) { "the report is pending" }
            val refused = assertThrows<GridworkException.InvalidInput>("sign out with unsynced changes") { store.signOut() }
            assertEq("sign_out", refused.field, "field")
            val e = assertThrows<GridworkException.Network>("sync with the server down") { store.sync() }
            check(e.retryable) { "retryable" }
            assertEq(pending, store.pendingCount(), "pending after the failed sync")
            assertEq("地下室没有信号", (store.get(rid).record as AnyRecord.Report).report.description, "the report is intact")
            server.start()
            store.sync()
            assertEq(0uL, store.pendingCount(), "pending after the server came back")
            store.signOut()
            check(store.session() == null) { "no session after sign-out" }
        }
    }
}
