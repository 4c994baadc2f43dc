//! The history of a run: every operation a client invoked, when, against which regions, and
//! how it ended. The checker judges the database against it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an operation asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OpKind {
    Earn { booking_ref: String },
    Redeem { reference: String },
    Hold { reference: String },
    Capture { hold_id: Uuid },
    Void { hold_id: Uuid },
    Transfer { to: Uuid, reference: String },
    Balance,
}

impl OpKind {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Earn { .. } => "earn",
            Self::Redeem { .. } => "redeem",
            Self::Hold { .. } => "hold",
            Self::Capture { .. } => "capture",
            Self::Void { .. } => "void",
            Self::Transfer { .. } => "transfer",
            Self::Balance => "balance",
        }
    }

    /// Whether the operation writes (and so must be found in the database when acknowledged).
    pub fn is_write(&self) -> bool {
        !matches!(self, Self::Balance)
    }
}

/// How one attempt (one HTTP request) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The region whose service the request was sent to.
    pub region: String,
    /// Milliseconds since the run started.
    pub sent_ms: u64,
    pub status: Option<u16>,
    /// The error `code` of a JSON error body, or what went wrong on the wire.
    pub detail: Option<String>,
    /// Whether this attempt certainly wrote nothing (a refusal, or never sent).
    pub definite: bool,
}

/// The final outcome of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged: a 2xx answer. Its effect must be in the database exactly once.
    Ok,
    /// Definitely refused: every attempt was a refusal or was never sent. Its effect must
    /// be absent.
    Fail,
    /// Perhaps applied (a timeout, a connection lost after sending, an ambiguous 5xx). Its
    /// effect may be present, at most once.
    Unknown,
}

/// One operation of the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    pub id: u64,
    pub client: u32,
    pub member: Uuid,
    /// The member's home region.
    pub home: String,
    #[serde(flatten)]
    pub kind: OpKind,
    pub idempotency_key: String,
    /// Milliseconds since the run started.
    pub invoke_ms: u64,
    pub complete_ms: u64,
    pub outcome: Outcome,
    /// The region that acknowledged it.
    pub acked_by: Option<String>,
    /// The acknowledged response body.
    pub response: Option<serde_json::Value>,
    pub attempts: Vec<Attempt>,
}

/// Every operation of a run, in completion order per client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<Op>,
}

impl History {
    /// Operations by outcome: (ok, fail, unknown).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |o: Outcome| self.ops.iter().filter(|op| op.outcome == o).count();
        (
            count(Outcome::Ok),
            count(Outcome::Fail),
            count(Outcome::Unknown),
        )
    }

    pub fn writes(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(|op| op.kind.is_write())
    }
}
