//! What a failed instance said before it goes: the end of its health-check log and its last
//! log lines, for a deploy's transcript (the History pane shows why a rollback happened).

use super::containers::ContainerBackend;
use crate::domain::{ContainerId, EngineError};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;

/// At most this many bytes of log are read (a flooding container cannot stall the deploy).
const MAX_BYTES: usize = 64 * 1024;

impl ContainerBackend {
    pub(super) async fn evidence(&self, id: &ContainerId, lines: usize) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        if let Some(ins) = self.inspect_raw(id).await? {
            let log = ins.state.and_then(|s| s.health).and_then(|h| h.log).unwrap_or_default();
            for r in log.iter().rev().take(3).rev() {
                let said = r.output.as_deref().unwrap_or_default().trim().lines().last().unwrap_or_default().to_owned();
                out.push(format!("health check: exit {}: {said}", r.exit_code.unwrap_or(-1)));
            }
        }
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&lines.to_string()).build();
        out.extend(tail(self.docker.logs(&id.0, Some(opts)).boxed(), lines).await);
        Ok(out)
    }

    /// The last `lines` log lines of a Swarm task on any node, through the manager (which
    /// fetches them from the task's node).
    pub(super) async fn task_words(&self, task: &ContainerId, lines: usize) -> Vec<String> {
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&lines.to_string()).build();
        tail(self.docker.task_logs(&task.0, Some(opts)).boxed(), lines).await
    }
}

/// The last `lines` lines of a log stream, read for at most a call's timeout and 64 KiB.
async fn tail(
    mut stream: futures::stream::BoxStream<'_, Result<LogOutput, bollard::errors::Error>>,
    lines: usize,
) -> Vec<String> {
    let mut text = String::new();
    let read = async {
        while let Some(item) = stream.next().await {
            let Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message }) =
                item
            else {
                break;
            };
            text.push_str(&String::from_utf8_lossy(&message));
            if text.len() > MAX_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(super::CALL_TIMEOUT, read).await;
    text.lines().rev().take(lines).collect::<Vec<_>>().into_iter().rev().map(|l| format!("log: {l}")).collect()
}
