// Shared helpers of the Kotlin binding tests: a tiny runner, assertions, scratch folders, a real
// gridwork-server process on loopback, an observer that records what it was told, and RSS.
package org.gridwork.tests

import java.io.File
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URI
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import org.gridwork.core.*

const val GRID = "furong-01" // the demo worker's grid (gridwork-server --demo)
val PASSWORDS = mapOf("worker" to "demo-worker", "supervisor" to "demo-supervisor", "leader" to "demo-leader")

class AssertionFailed(message: String) : AssertionError(message)

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionFailed(message())
}

fun <T> assertEq(expected: T, actual: T, what: String) {
    check(expected == actual) { "$what: expected <$expected>, got <$actual>" }
}

inline fun <reified E : Throwable> assertThrows(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionFailed("$what: expected ${E::class.simpleName}, got $e")
    }
    throw AssertionFailed("$what: expected ${E::class.simpleName}, nothing was thrown")
}

fun scratchDir(name: String): File {
    val base = File(System.getenv("GRIDWORK_TEST_TMP") ?: System.getProperty("java.io.tmpdir"))
    base.mkdirs()
    return Files.createTempDirectory(base.toPath(), "$name-").toFile()
}

fun newReport(title: String, description: String = "", submit: Boolean = false, location: Location? = null) =
    NewReport(grid = GRID, category = ReportCategory.FIRE_HAZARD, severity = 2u, title = title, description = description, location = location, submit = submit)

/** A ChangeObserver that keeps every call (called from Rust threads: synchronized). */
class Recorder : ChangeObserver {
    private val calls = mutableListOf<Pair<List<String>, Boolean>>()

    override fun onChange(ids: List<String>, remote: Boolean) {
        synchronized(calls) { calls.add(ids to remote) }
    }

    fun saw(id: String, remote: Boolean): Boolean = synchronized(calls) { calls.any { (ids, r) -> id in ids && r == remote } }

    fun count(): Int = synchronized(calls) { calls.size }
}

fun rssBytes(): Long {
    val line = File("/proc/self/status").readLines().first { it.startsWith("VmRSS:") }
    return line.split(Regex("\\s+"))[1].toLong() * 1024
}

/**
 * A gridwork-server process on a free loopback port with the demo organisation. stop() then
 * start() keeps the data dir and the port, like a server restart.
 */
class Server : AutoCloseable {
    private val binary = System.getenv("GRIDWORK_SERVER")?.let(::File)
        ?.takeIf { it.isFile } ?: throw IllegalStateException("GRIDWORK_SERVER must name the gridwork-server binary (cargo xtask test-bindings sets it)")
    private val dataDir = scratchDir("server")
    private val port = ServerSocket(0).use { it.localPort }
    private val log = File(dataDir, "server.log")
    private var process: Process? = null
    val url = "http://127.0.0.1:$port"

    fun start(timeoutMs: Long = 30_000): Server {
        process = ProcessBuilder(binary.path, "serve", "--data-dir", File(dataDir, "db").path, "--listen", "127.0.0.1:$port", "--demo")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log))
            .start()
        val deadline = System.nanoTime() + timeoutMs * 1_000_000
        while (System.nanoTime() < deadline) {
            val p = process!!
            check(p.isAlive) { "gridwork-server exited with ${p.exitValue()}; see $log" }
            if (healthy()) return this
            Thread.sleep(100)
        }
        stop()
        throw AssertionFailed("gridwork-server did not answer /healthz within $timeoutMs ms; see $log")
    }

    private fun healthy(): Boolean = try {
        val c = URI("$url/healthz").toURL().openConnection() as HttpURLConnection
        c.connectTimeout = 1000
        c.readTimeout = 1000
        try { c.responseCode == 200 } finally { c.disconnect() }
    } catch (e: java.io.IOException) {
        false
    }

    fun stop() {
        process?.let { p ->
            p.destroy()
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly()
                p.waitFor()
            }
        }
        process = null
    }

    override fun close() {
        stop()
        dataDir.deleteRecursively()
    }
}
