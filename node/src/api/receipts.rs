//! Execution receipts as the API shows them: a signed receipt with how it stands here,
//! and the receipt file that `swarmvote receipt` writes and `verify-receipt` reads.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::{Certificate, SignedReceipt, Standing};
use utoipa::ToSchema;

/// A receipt and how it stands against what this node holds. An unbacked receipt is
/// evidence against its executor: it signed that it ran something the swarm did not
/// approve (or not under the certificate it names).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptReport {
    /// The signed receipt.
    pub receipt: SignedReceipt,
    /// `{"state": "backed"}`, or `{"state": "unbacked", "reason": …, "detail": …}`.
    pub standing: Standing,
    /// The certificate the receipt names, when this node can rebuild it (only in
    /// `GET /v1/proposals/{id}/receipts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub certificate: Option<Certificate>,
}

/// A receipt file: the receipt and, when the node had it, the certificate it names.
/// `swarmvote verify-receipt` checks both offline; other fields (such as a `standing`
/// someone copied in) are ignored, never trusted.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptFile {
    /// The signed receipt.
    pub receipt: SignedReceipt,
    /// The certificate it names; `null` when none is known (an unbacked execution).
    pub certificate: Option<Certificate>,
}
