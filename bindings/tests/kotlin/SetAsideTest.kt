// Issue 8 through the FFI: documents a sync set aside, and changes held by the server's quota.
package org.gridwork.tests

import java.io.File
import java.time.Instant
import org.gridwork.core.*

fun setAsideAndQuotaHoldCrossTheBoundary() {
    Server().start().use { server ->
        GridworkStore.open(File(scratchDir("set-aside"), "w.db").path, "worker", Role.WORKER).use { store ->
            assertEq(emptyList<SetAsideDoc>(), store.setAside(), "set-aside documents of a clean store")
            assertEq(null, store.quotaHold(), "quota hold of a clean store")
            store.signIn(server.url, "worker", PASSWORDS.getValue("worker"), "phone")
            store.createReport(newReport("井盖缺失"))
            val report: SyncReport = store.sync()
            assertEq(1uL, report.accepted, "accepted")
            assertEq(0uL, report.heldByQuota, "held by quota")
            assertEq(0uL, report.setAside, "set aside")
            assertEq(0uL, store.pendingCount(), "pending")
            assertEq(emptyList<SetAsideDoc>(), store.setAside(), "nothing set aside by a healthy sync")
        }
    }
    // The record types carry what an app shows (typed fields, times as Instant).
    val at = Instant.ofEpochMilli(1_700_000_000_000)
    val doc = SetAsideDoc(docId = "invalid:0123456789abcdef", code = RejectCode.INVALID_ID, field = "doc_id", reason = "the document id does not follow the id rule", changes = 2uL, firstSeenMs = at, lastSeenMs = at)
    assertEq("doc_id", doc.field, "field")
    val hold = QuotaHold(reason = "daily quota", atMs = at, held = 3uL)
    assertEq(3uL, hold.held, "held")
}
