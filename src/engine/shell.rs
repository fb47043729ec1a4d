//! An interactive command in a container (`e` in the panel, `stackdeck exec`): the engine's exec
//! API with a real PTY when the terminal is one (resized on SIGWINCH), the terminal's bytes to
//! the process and its bytes to the terminal, as `docker exec -it` does. The caller puts the
//! terminal in raw mode and makes sure nothing else reads it.
//!
//! What the process prints goes to the terminal as it is: a shell session is a terminal handed to
//! the container, like `docker exec -it`. Nothing of it is stored or sent anywhere; the audit
//! row records who ran what, where, and the exit code.

use super::{Endpoint, connect};
use crate::domain::{ContainerId, EngineError};
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures::StreamExt;
use std::io::Write;
use std::os::fd::AsFd;
use tokio::io::AsyncWriteExt;

fn err(e: &bollard::errors::Error) -> EngineError {
    EngineError::Refused(crate::logtext::inert(&e.to_string()).into_owned())
}

/// Run `cmd` in the container attached to this terminal; its exit code when the engine says.
pub async fn run(ep: &Endpoint, id: &ContainerId, cmd: Vec<String>, tty: bool) -> Result<Option<i64>, EngineError> {
    let (docker, _) = connect(ep).await?;
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let config = ExecConfig {
        cmd: Some(cmd),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(tty),
        env: tty.then(|| vec![format!("TERM={term}")]),
        ..Default::default()
    };
    let created = docker.create_exec(&id.0, config).await.map_err(|e| err(&e))?;
    let opts = StartExecOptions { detach: false, tty, output_capacity: None };
    let StartExecResults::Attached { mut output, mut input } =
        docker.start_exec(&created.id, Some(opts)).await.map_err(|e| err(&e))?
    else {
        return Err(EngineError::Refused("the engine detached the exec".into()));
    };
    let resize = |docker: bollard::Docker, exec: String| async move {
        if let Ok((w, h)) = crossterm::terminal::size() {
            let o = bollard::query_parameters::ResizeExecOptions { h: i32::from(h), w: i32::from(w) };
            let _ = docker.resize_exec(&exec, o).await;
        }
    };
    let mut winch = None;
    if tty {
        resize(docker.clone(), created.id.clone()).await;
        if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) {
            let (d, e) = (docker.clone(), created.id.clone());
            winch = Some(tokio::spawn(async move {
                while sig.recv().await.is_some() {
                    resize(d.clone(), e.clone()).await;
                }
            }));
        }
    }
    // The terminal's bytes, read on a thread that sleeps in poll(2) and ends when told (so no
    // read is left pending on the terminal after the session).
    let (stop_rx, stop_tx) = nix::unistd::pipe().map_err(|e| EngineError::Refused(e.to_string()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let reader = std::thread::spawn(move || {
        let stdin = std::io::stdin();
        loop {
            match crate::input::wait_readable(stdin.as_fd(), &stop_rx) {
                // A pipe that ended still has its last bytes: read until EOF.
                crate::input::Ready::Terminal | crate::input::Ready::Closing => {
                    let mut buf = [0u8; 4096];
                    match nix::unistd::read(stdin.as_fd(), &mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if tx.blocking_send(buf[..n].to_vec()).is_err() {
                                return;
                            }
                        }
                    }
                }
                crate::input::Ready::Woken => {
                    // Woken by the stop pipe (or a signal): end when the session is over.
                    if tx.is_closed() {
                        return;
                    }
                }
                crate::input::Ready::Gone => return,
            }
        }
    });
    // `move`: the receiver goes with it, so the reader sees it closed once the session ends.
    let feed = async move {
        while let Some(bytes) = rx.recv().await {
            if input.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = input.shutdown().await;
    };
    let show = async {
        let mut out = std::io::stdout();
        while let Some(item) = output.next().await {
            let Ok(chunk) = item else { break };
            let _ = out.write_all(&chunk.into_bytes());
            let _ = out.flush();
        }
    };
    // The session lasts as long as the process's output: stdin ending (a pipe) does not end it.
    let feeding = async {
        feed.await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = show => {}
        () = feeding => {}
    }
    // The receiver is gone now: the reader ends as soon as the pipe wakes it.
    crate::input::ring(&stop_tx);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    if let Some(w) = winch {
        w.abort();
    }
    let code = docker.inspect_exec(&created.id).await.ok().and_then(|i| i.exit_code);
    Ok(code)
}
