//! The vocabulary every layer speaks: services and their instances, images, health, operation
//! requests and records, outcomes, kill-switch latches, backup manifests, observations and host
//! samples, engine errors, and the panes of the panel.
//!
//! This is the bottom layer. It must never import `state`, `store`, `ops`, `observe`, `engine`,
//! `config`, `ui` or `msg` (a test in `tests/architecture.rs` reads the sources and fails when it
//! does), so every other module can be read bottom-up from here.

mod backup;
mod drift;
mod engine;
mod environment;
mod observe;
mod ops;
mod pane;
mod release;
mod rollout;
mod service;
mod swarm;
mod timeline;

pub use backup::{BackupKind, BackupStatus, JobEntry, Manifest, VerifyMode};
pub use drift::{ComposeService, ComposeView, Drift, Newer, compare as compare_drift};
pub use engine::{EngineError, EngineInfo, Inspected, is_remote};
pub use environment::{EngineCounts, EnvBadge, EnvSummary};
pub use observe::{Alert, Disk, HostReport, HostSample, Observation, PanelData, Severity, Source, Window};
pub use ops::{Done, KillSwitch, OpError, OpRecord, OpRequest, Outcome, RestartPolicy, START_FIRST_BLOCKED, Step};
pub use pane::{Pane, Zone};
pub use release::{check_tag, dependency_order, retag};
pub use rollout::{Rollout, TaskLook};
pub use service::{
    ComposeFiles, Container, ContainerId, GONE_PREFIX, Health, NEXT_SUFFIX, PARKED_SUFFIX, RunState, ServiceKey,
    StatsFrom, StatsSample, short_image_id,
};
pub use swarm::{STOPPED_CONSTRAINT, SwarmNode, SwarmRole, SwarmService, SwarmView, swarm_name};
pub use timeline::{Group, Happen, Happening, Tone};
