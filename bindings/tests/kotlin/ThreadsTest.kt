// The store object is used from many threads; a long sync does not block reads or lose writes.
package org.gridwork.tests

import java.io.File
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import org.gridwork.core.*

private const val THREADS = 8
private const val WRITES_PER_THREAD = 25

fun eightThreadsWhileASyncRuns() {
    Server().start().use { server ->
        GridworkStore.open(File(scratchDir("threads"), "w.db").path, "worker", Role.WORKER).use { store ->
            store.signIn(server.url, "worker", PASSWORDS.getValue("worker"), "phone")
            // Give the sync something to carry.
            repeat(200) { store.createReport(newReport("积压的巡查记录 $it", "楼道消防设施检查".repeat(20))) }
            val created = ConcurrentLinkedQueue<String>()
            val errors = ConcurrentLinkedQueue<Throwable>()
            val syncs = ConcurrentLinkedQueue<SyncReport>()
            val start = CyclicBarrier(THREADS + 1)
            val workers = (0 until THREADS).map { n ->
                thread(name = "writer-$n") {
                    try {
                        start.await(60, TimeUnit.SECONDS)
                        repeat(WRITES_PER_THREAD) { i ->
                            val rid = store.createReport(newReport("线程${n}的记录$i", "并发写入测试"))
                            created.add(rid)
                            store.updateReport(rid, ReportPatch(severity = (1 + i % 4).toUByte()))
                            store.get(rid)
                            store.list(ListQuery(kind = RecordKind.REPORT, limit = 20u))
                            store.search("并发写入", null, 10u)
                            store.pendingCount()
                        }
                    } catch (e: Throwable) {
                        errors.add(e)
                    }
                }
            }
            val syncer = thread(name = "sync") {
                try {
                    start.await(60, TimeUnit.SECONDS)
                    repeat(3) { syncs.add(store.sync()) }
                } catch (e: Throwable) {
                    errors.add(e)
                }
            }
            (workers + syncer).forEach { it.join(300_000) }
            check((workers + syncer).none { it.isAlive }) { "a thread hung" }
            check(errors.isEmpty()) { "errors: ${errors.toList()}" }
            assertEq(3, syncs.size, "syncs")
            assertEq(THREADS * WRITES_PER_THREAD, created.toSet().size, "distinct ids written")
            created.forEach { assertEq(it, store.get(it).id, "every write is readable") }
            store.sync()
            assertEq(0uL, store.pendingCount(), "everything reached the server")
        }
    }
}
