// The Android app's non-UI access to Gridwork: suspend functions on an IO dispatcher and a Flow of
// changes over the generated bindings (org.gridwork.core). No Android imports, so it compiles and
// is tested on a plain JVM; the app module adds screens and WorkManager on top.
package org.gridwork.android

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.withContext
import org.gridwork.core.*

/** Records that changed; `remote` when they came from another device. */
data class RecordChange(val ids: List<String>, val remote: Boolean)

/** What a background sync should tell its scheduler (WorkManager: success / retry / failure). */
sealed class SyncOutcome {
    data class Done(val report: SyncReport) : SyncOutcome()
    /** The server could not be reached; nothing was lost. Try again with backoff. */
    data class RetryLater(val reason: String) : SyncOutcome()
    /** The session is gone or refused: the user must sign in again. Do not retry. */
    data class SignInRequired(val reason: String) : SyncOutcome()
}

class GridworkRepository(
    private val store: GridworkStore,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    /** Changes as they are committed; collecting subscribes, cancelling unsubscribes. */
    fun changes(): Flow<RecordChange> = callbackFlow {
        val handle = store.subscribe(object : ChangeObserver {
            override fun onChange(ids: List<String>, remote: Boolean) {
                trySend(RecordChange(ids, remote))
            }
        })
        awaitClose { handle.close() }
    }

    suspend fun signIn(serverUrl: String, username: String, password: String, deviceName: String): Session =
        withContext(io) { store.signIn(serverUrl, username, password, deviceName) }

    suspend fun session(): Session? = withContext(io) { store.session() }

    suspend fun createReport(report: NewReport): String = withContext(io) { store.createReport(report) }

    suspend fun updateReport(id: String, patch: ReportPatch) = withContext(io) { store.updateReport(id, patch) }

    suspend fun createVisit(visit: NewVisit): String = withContext(io) { store.createVisit(visit) }

    suspend fun get(id: String): StoredRecord = withContext(io) { store.get(id) }

    suspend fun list(query: ListQuery = ListQuery()): Page = withContext(io) { store.list(query) }

    suspend fun search(text: String, kind: RecordKind? = null): List<RecordSummary> = withContext(io) { store.search(text, kind, 50u) }

    suspend fun pendingCount(): ULong = withContext(io) { store.pendingCount() }

    /** One sync for a background worker, its errors turned into what the scheduler should do. */
    suspend fun syncForWorker(onProgress: (SyncProgress) -> Unit = {}): SyncOutcome = withContext(io) {
        try {
            SyncOutcome.Done(store.sync(object : SyncProgressObserver {
                override fun onProgress(progress: SyncProgress) = onProgress(progress)
            }))
        } catch (e: GridworkException.Network) {
            if (e.retryable) SyncOutcome.RetryLater(e.reason) else SyncOutcome.SignInRequired(e.reason)
        } catch (e: GridworkException.Unauthorized) {
            SyncOutcome.SignInRequired(e.reason)
        }
    }
}
