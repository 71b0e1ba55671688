//! Per-device quotas on pushes: per request and per UTC day. Enforced in [`crate::sync`]; usage is
//! counted by the store ([`crate::store::ServerStore::usage_today`]). A change over a quota is
//! refused with the retryable code `quota`: the device keeps it pending and sends it again later.

use gridwork_protocol::gate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Documents per request.
    pub request_docs: usize,
    /// Changes per request.
    pub request_changes: usize,
    /// Operations (decoded) per request.
    pub request_ops: u64,
    /// Documents a request may create.
    pub request_new_docs: usize,
    /// Documents a device may create per UTC day.
    pub day_new_docs: u64,
    /// Changes a device may push per UTC day.
    pub day_changes: u64,
    /// Change bytes a device may push per UTC day.
    pub day_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            request_docs: gate::MAX_PUSH_DOCS,
            request_changes: gate::MAX_PUSH_CHANGES,
            request_ops: gate::MAX_PUSH_OPS,
            request_new_docs: gate::MAX_PUSH_NEW_DOCS,
            day_new_docs: 2_000,
            day_changes: 20_000,
            day_bytes: 64 << 20,
        }
    }
}
