//! Who answered, and the ways an engine call can fail, as a type: callers decide on the kind,
//! never on the wording of the engine's message.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    pub host: String,
    pub source: String,
    pub api_version: String,
    pub server_version: String,
    /// The engine's machine, as the engine reports it (`docker info`): CPUs and memory. What a
    /// remote engine's host pane shows when no node metrics are configured.
    pub cpus: Option<u64>,
    pub memory: Option<u64>,
}

/// One container as the inspect view shows it: sections of lines, every text inert and masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub container: String,
    pub sections: Vec<(String, Vec<String>)>,
}

/// Why an engine call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The object (container, image, exec) does not exist (HTTP 404).
    NotFound(String),
    /// The container is not running (kill/exec of a stopped container).
    NotRunning(String),
    /// The engine refused because of the object's current state (HTTP 409: name in use,
    /// removal in progress...).
    Conflict(String),
    /// No connection to the engine (socket missing, refused, permission denied, link down).
    Unreachable(String),
    /// The engine did not answer in time.
    Timeout(String),
    /// The engine answered with an error of another kind.
    Refused(String),
}

impl EngineError {
    /// Worth trying again after a short wait (the engine may be restarting).
    pub fn is_transient(&self) -> bool {
        matches!(self, EngineError::Unreachable(_) | EngineError::Timeout(_))
    }

    pub fn message(&self) -> &str {
        match self {
            EngineError::NotFound(m)
            | EngineError::NotRunning(m)
            | EngineError::Conflict(m)
            | EngineError::Unreachable(m)
            | EngineError::Timeout(m)
            | EngineError::Refused(m) => m,
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EngineError {}

impl From<EngineError> for String {
    fn from(e: EngineError) -> String {
        e.to_string()
    }
}

/// An engine on another machine: its other operators' history and locks are not in this
/// machine's state dir.
pub fn is_remote(endpoint: &str) -> bool {
    ["ssh://", "tcp://", "http://", "https://"].iter().any(|p| endpoint.starts_with(p))
}
