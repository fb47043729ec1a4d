//! One stats stream per running container, reduced to [`StatsSample`]s.
//! Samples are lossy by nature: when the app is busy, a sample is dropped, never queued.

use super::convert;
use crate::domain::ContainerId;
use crate::msg::{EngineEvent, Msg};
use bollard::Docker;
use bollard::query_parameters::StatsOptionsBuilder;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(super) fn spawn(docker: Docker, id: ContainerId, tx: mpsc::Sender<Msg>) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut stream = docker.stats(&id.0, Some(StatsOptionsBuilder::default().stream(true).build())).boxed();
        loop {
            tokio::select! {
                () = t.cancelled() => return,
                item = stream.next() => match item {
                    Some(Ok(s)) => {
                        if let Some(sample) = convert::stats(&s)
                            && let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Msg::Engine(EngineEvent::Stats(vec![(id.clone(), sample)]))) {
                                return;
                            }
                    }
                    // The container stopped or the engine went away: the supervisor notices
                    // through events and starts a new stream when it runs again.
                    Some(Err(_)) | None => return,
                },
            }
        }
    });
    token
}
