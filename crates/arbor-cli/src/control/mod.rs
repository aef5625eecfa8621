//! Steering a running `arbor run` from another terminal, over a Unix socket that only its
//! owner can open: the socket file is mode 0600, and the server also refuses a peer whose
//! user id is not its own (so not even root gets in through it).
//!
//! The protocol is one JSON request per connection, one line, and JSON lines back: for most
//! requests one [`Reply`]; for `logs` with `follow`, the kept lines and then each new one,
//! until the client hangs up.

pub(crate) mod client;
pub(crate) mod server;
pub(crate) mod socket;

use serde::{Deserialize, Serialize};

use crate::app::NodeView;
use crate::logs::Line;

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    Status,
    Restart {
        name: String,
    },
    Stop {
        name: String,
    },
    Start {
        name: String,
    },
    Logs {
        name: String,
        lines: usize,
        follow: bool,
    },
    Reload,
    Shutdown,
}

/// What the server answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Reply {
    pub(crate) ok: bool,
    /// Why not, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// For `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nodes: Option<Vec<NodeView>>,
    /// The node a name resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dn: Option<String>,
    /// For `reload`: each node the reload changed, and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) changes: Option<Vec<(String, String)>>,
    /// One output line, for `logs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) line: Option<LineView>,
}

/// An output line on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LineView {
    pub(crate) dn: String,
    pub(crate) stream: String,
    pub(crate) text: String,
    pub(crate) at_ms: u64,
}

impl From<&Line> for LineView {
    fn from(line: &Line) -> Self {
        LineView {
            dn: line.dn.to_string(),
            stream: line.stream.to_owned(),
            text: line.text.clone(),
            at_ms: line.at_ms,
        }
    }
}

impl Reply {
    pub(crate) fn ok() -> Self {
        Reply {
            ok: true,
            ..Reply::default()
        }
    }

    pub(crate) fn error(message: impl Into<String>) -> Self {
        Reply {
            ok: false,
            error: Some(message.into()),
            ..Reply::default()
        }
    }
}
