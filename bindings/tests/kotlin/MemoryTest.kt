// Creating and dropping many objects through the bindings does not grow the process without bound.
package org.gridwork.tests

import java.io.File
import org.gridwork.core.*

private const val ROUNDS = 10_000
private const val MAX_GROWTH = 48L * 1024 * 1024

private fun settle() {
    repeat(3) {
        System.gc()
        Thread.sleep(100) // let the Cleaner thread destroy unreachable objects
    }
}

fun tenThousandObjectsComeAndGo() {
    val dir = scratchDir("memory")
    val path = File(dir, "w.db").path
    GridworkStore.open(path, "worker", Role.WORKER, listOf(GRID)).use { store ->
        val rid = store.createReport(newReport("内存测试", "反复创建和释放对象"))
        fun churn(n: Int) {
            repeat(n) { i ->
                val handle = store.subscribe(Recorder()) // an object holding a foreign callback
                if (i % 2 == 0) handle.close() // the other half is left to the garbage collector
                store.get(rid) // a record crossing by value
                store.list(ListQuery(limit = 5u))
                if (i % 100 == 0) GridworkStore.open(path, "worker", Role.WORKER).close() // a whole store
            }
        }
        churn(1_000) // warm up the JIT, caches and allocator pools
        settle()
        val before = rssBytes()
        churn(ROUNDS)
        settle()
        val after = rssBytes()
        println("memory: RSS ${before shr 20} MiB -> ${after shr 20} MiB after $ROUNDS rounds")
        check(after - before < MAX_GROWTH) { "RSS grew by ${(after - before) shr 20} MiB" }

        // A closed handle unsubscribes: its observer is not called again.
        val dropped = Recorder()
        store.subscribe(dropped).close()
        val seen = Recorder()
        store.subscribe(seen).use {
            store.updateReport(rid, ReportPatch(severity = 4u))
        }
        assertEq(1, seen.count(), "calls of the live observer")
        assertEq(0, dropped.count(), "calls of the closed observer")
    }
}
