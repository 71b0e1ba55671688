// The repository on a plain JVM, against the real library (run by `cargo xtask test-bindings`).
package org.gridwork.android

import java.io.File
import java.nio.file.Files
import kotlin.system.exitProcess
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.delay
import org.gridwork.core.*

private fun check(condition: Boolean, message: String) {
    if (!condition) throw AssertionError(message)
}

private fun repositoryWritesReadsAndStreamsChanges() = runBlocking {
    val base = File(System.getenv("GRIDWORK_TEST_TMP") ?: System.getProperty("java.io.tmpdir")).also { it.mkdirs() }
    val dir = Files.createTempDirectory(base.toPath(), "repository-").toFile()
    GridworkStore.open(File(dir, "w.db").path, "worker", Role.WORKER, listOf("furong-01")).use { store ->
        val repo = GridworkRepository(store)
        val firstChange = async(Dispatchers.Default) { repo.changes().first() }
        // The flow subscribes asynchronously: write until it has seen a write.
        val ids = mutableListOf<String>()
        while (!firstChange.isCompleted && ids.size < 100) {
            ids += repo.createReport(NewReport(grid = "furong-01", category = ReportCategory.SANITATION, severity = 1u, title = "垃圾桶满溢"))
            delay(20)
        }
        val change = firstChange.await()
        check(change.ids.single() in ids && !change.remote, "the flow saw a local write: $change")
        check(repo.search("垃圾桶满溢").map { it.id }.toSet() == ids.toSet(), "search finds the reports")
        check(repo.pendingCount() > 0uL, "the write is pending")
        // Not signed in: the worker is told to ask for a sign-in, not to retry forever.
        val outcome = repo.syncForWorker()
        check(outcome is SyncOutcome.SignInRequired, "sync without a session: $outcome")
    }
}

fun main() {
    var passed = 0
    var failed = 0
    for ((name, test) in listOf("repository writes, reads and streams changes" to ::repositoryWritesReadsAndStreamsChanges)) {
        try {
            test()
            passed++
            println("PASS $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace(System.out)
        }
    }
    println("android-core-jvm: $passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
