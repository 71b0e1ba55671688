// Runs every Kotlin binding test and prints one "N passed, N failed" line.
package org.gridwork.tests

import kotlin.system.exitProcess

val TESTS: List<Pair<String, () -> Unit>> = listOf(
    "a worker's day against a real server" to ::aWorkersDay,
    "bad password is unauthorized" to ::badPasswordIsUnauthorized,
    "export and import between two devices" to ::exportImportBetweenTwoDevices,
    "invalid input names the field" to ::invalidInputNamesTheField,
    "malformed ids are invalid input naming the field" to ::malformedIdsAreInvalidInputNamingTheField,
    "not found, not permitted, conflict" to ::notFoundNotPermittedAndConflict,
    "not a database is storage corrupt" to ::notADatabaseIsStorageCorrupt,
    "a panic does not cross the boundary" to ::aPanicDoesNotCrossTheBoundary,
    "an observer that throws does not break the write" to ::anObserverThatThrowsDoesNotBreakTheWrite,
    "photos: attach, read back, refuse junk" to ::photosAttachReadBackAndRefuseJunk,
    "sync with the server down is retryable and loses nothing" to ::syncWithServerDownIsRetryable,
    "set-aside documents and quota holds cross the boundary" to ::setAsideAndQuotaHoldCrossTheBoundary,
    "full photos on demand, photo counters and typed sync phases" to ::fullPhotosOnDemandAndPhotoCounters,
    "discarding quarantined changes leaves quarantine" to ::discardQuarantinedLeavesQuarantine,
    "summaries carry per-kind fields" to ::summariesCarryPerKindFields,
    "8 threads read and write while a sync runs" to ::eightThreadsWhileASyncRuns,
    "10,000 objects come and go" to ::tenThousandObjectsComeAndGo,
    "the team directory: names, places and the grid offline" to ::directoryNamesPlacesAndGridOffline,
    "an encrypted store keeps its secrets and refuses a wrong key" to ::anEncryptedStoreKeepsItsSecretsAndRefusesAWrongKey,
    "a plain store is encrypted on first open with a key" to ::aPlainStoreIsEncryptedOnFirstOpenWithAKey,
)

fun main(args: Array<String>) {
    val only = args.toSet()
    var passed = 0
    var failed = 0
    for ((name, test) in TESTS) {
        if (only.isNotEmpty() && only.none { name.contains(it) }) continue
        val started = System.nanoTime()
        try {
            test()
            passed++
            println("PASS $name (${(System.nanoTime() - started) / 1_000_000} ms)")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace(System.out)
        }
    }
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
