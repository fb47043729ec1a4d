//! Backups: what a job does, how it is verified, and the manifest written beside the files.

use serde::{Deserialize, Serialize};

/// What a backup job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// Run a command in the service's container and keep its stdout (pg_dump).
    Exec,
    /// Optionally run a command first (redis-cli SAVE), then copy a file out of the container.
    Copy,
    /// Tar paths on the host (configuration).
    Paths,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Exec => "exec",
            BackupKind::Copy => "copy",
            BackupKind::Paths => "paths",
        }
    }
}

/// How a backup is proven restorable beyond its checksum and archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Restore the dump into a scratch database in the running container.
    Postgres,
}

/// Whether a backup passed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupStatus {
    Good,
    Failed,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Good => "good",
            BackupStatus::Failed => "failed",
        }
    }
}

/// `manifest.json` of one backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub id: String,
    pub created: String,
    pub status: BackupStatus,
    pub jobs: Vec<JobEntry>,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.jobs.iter().map(|j| j.bytes).sum()
    }
}

/// One job's file in a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobEntry {
    pub name: String,
    pub kind: BackupKind,
    pub file: Option<String>,
    /// Size of the file as stored (compressed).
    pub bytes: u64,
    /// Size of the data before compression.
    pub raw_bytes: u64,
    pub sha256: Option<String>,
    /// What was checked ("sha256", "gzip", "tar", "restore into a scratch database").
    pub verified: Vec<String>,
    pub error: Option<String>,
}

impl JobEntry {
    /// Nothing written yet.
    pub fn new(name: &str, kind: BackupKind) -> JobEntry {
        JobEntry {
            name: name.to_owned(),
            kind,
            file: None,
            bytes: 0,
            raw_bytes: 0,
            sha256: None,
            verified: vec![],
            error: None,
        }
    }
}
