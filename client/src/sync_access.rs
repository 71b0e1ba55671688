//! The access log's trip to the server: after each sync, the entries of this device's access
//! log the server does not have yet (`Store::reveal` writes them) are posted to
//! `POST /v1/access-log`, in batches of at most [`BATCH`], and marked sent once the server
//! answers `2xx`. A failure leaves them pending for the next sync; it never fails the sync (the
//! records are what a worker waits for), but it is logged. A server from before the access log
//! (`404`) is left alone.

use gridwork_model::error::Result;
use gridwork_store::Store;

use crate::sync::SavedSession;

/// Entries per request (the server refuses more than 500).
pub const BATCH: usize = 200;

pub(crate) fn send_access_log(
    store: &Store,
    client: &reqwest::blocking::Client,
    session: &SavedSession,
) -> Result<usize> {
    let mut sent = 0;
    loop {
        let pending = store.sync_side().pending_access(BATCH)?;
        if pending.is_empty() {
            return Ok(sent);
        }
        let entries: Vec<serde_json::Value> = pending
            .iter()
            .map(|(_, e)| {
                serde_json::json!({
                    "at_ms": e.at_ms.get(),
                    "doc_id": e.doc_id,
                    "what": e.what,
                    "reason": e.reason,
                })
            })
            .collect();
        let body = serde_json::json!({ "entries": entries }).to_string();
        let answer = client
            .post(format!("{}/v1/access-log", session.server_url))
            .bearer_auth(&session.token)
            .header("content-type", "application/json")
            .body(body)
            .send();
        match answer {
            Ok(r) if r.status().is_success() => {
                let ids: Vec<i64> = pending.iter().map(|(id, _)| *id).collect();
                store.sync_side().mark_access_sent(&ids)?;
                sent += ids.len();
            }
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    pending = pending.len(),
                    "the server did not take the access log; it stays pending"
                );
                return Ok(sent);
            }
            Err(e) => {
                tracing::warn!(error = %e, pending = pending.len(), "the access log could not be sent; it stays pending");
                return Ok(sent);
            }
        }
    }
}
