//! The feed's close watch on the services that just changed. A manager sends an event when a
//! service changes, but none when its tasks are made, placed or change state, so the feed would
//! see a new task only at its next read of every task. For a few seconds after a service event,
//! the tasks of the services that changed (and only those: a small answer) are read every
//! [`GAP`], and every [`BURST_GAP`] in the first [`BURST`] after the event, when Swarm makes
//! and places the new tasks (25-180 ms after a `docker service scale` on the test swarm). An
//! answer that did not change is not parsed; one that did replaces those services' tasks in the
//! feed's last read at once, without waiting for a read of the whole swarm.
//!
//! The watch runs as its own task beside the feed ([`spawn`]): the feed sends it the services
//! to watch and hears its answers as [`News`], also while a read of the whole swarm (100 tasks
//! and more on a busy manager: a hundred milliseconds and more) is on its way.

use super::raw_get::LastAnswer;
use super::swarm::task_filters;
use bollard::Docker;
use bollard::models::Task;
use bollard::query_parameters::ListTasksOptionsBuilder;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a service is watched after its last event: long enough for Swarm to make, place
/// and start a task on a node that has the image (a few seconds on the test swarm).
const WINDOW: Duration = Duration::from_secs(3);
/// The gap between two reads on a local socket, for up to [`SHARED`] services; each further
/// [`SHARED`] services add one gap, so a whole stack's deploy does not make the manager list
/// a hundred tasks a hundred times a second.
const GAP: Duration = Duration::from_millis(10);
/// The same on a remote engine, where each read is a round trip over ssh or TLS.
const REMOTE_GAP: Duration = Duration::from_millis(50);
const SHARED: u32 = 2;
/// How long after a service's event its tasks are read every [`BURST_GAP`] instead of every
/// [`GAP`] on a local socket: Swarm makes and places a scaled or updated service's new task
/// within this on the test swarm. The wait for the next read is most of the time from a task
/// in the manager's API to its row (5 ms at the median with [`GAP`]; a container's row comes
/// with its event).
const BURST: Duration = Duration::from_millis(500);
/// A read of one service's tasks costs the manager about 1 ms of CPU, so a read every 3 ms
/// during [`BURST`] is about 170 reads (0.2 s of the manager's CPU) per service event.
const BURST_GAP: Duration = Duration::from_millis(2);

/// The services watched, each until its window ends, and the last answer about them.
#[derive(Debug, Default)]
pub(super) struct Watch {
    until: BTreeMap<String, Instant>,
    last: LastAnswer,
    next: Option<Instant>,
}

impl Watch {
    /// Watch `service` for [`WINDOW`] from `now` (again, if it was watched already); the first
    /// read is due at once.
    pub(super) fn start(&mut self, service: String, now: Instant) {
        if self.until.insert(service, now + WINDOW).is_none() {
            // Another request: its answer is not comparable with the last one.
            self.last = LastAnswer::default();
        }
        self.next = Some(now);
    }

    /// Watch `service` no more (it was removed).
    pub(super) fn stop(&mut self, service: &str) {
        if self.until.remove(service).is_some() {
            self.last = LastAnswer::default();
        }
    }

    /// When the next read is due (`None`: nothing is watched).
    pub(super) fn due(&self) -> Option<Instant> {
        self.next.filter(|_| !self.until.is_empty())
    }

    /// The services whose window is still open at `now`; the next read is planned after `now`.
    fn services(&mut self, now: Instant, remote: bool) -> Vec<String> {
        let before = self.until.len();
        self.until.retain(|_, until| *until > now);
        if self.until.len() != before {
            self.last = LastAnswer::default();
        }
        // The latest event is the latest window's start: each window is WINDOW long.
        let burst = self.until.values().max().is_some_and(|until| now + WINDOW < *until + BURST);
        let per = if remote {
            REMOTE_GAP
        } else if burst {
            BURST_GAP
        } else {
            GAP
        };
        let n = u32::try_from(self.until.len()).unwrap_or(u32::MAX);
        self.next = Some(now + per * n.div_ceil(SHARED).max(1));
        self.until.keys().cloned().collect()
    }

    /// Read the watched services' tasks meant to run: `None` when nothing is watched any more
    /// or, on a local socket, when the answer is the same, byte for byte, as the last one.
    pub(super) async fn read(
        &mut self,
        docker: &Docker,
        socket: Option<&std::path::Path>,
    ) -> Result<Option<(Vec<String>, Vec<Task>)>, bollard::errors::Error> {
        let services = self.services(Instant::now(), socket.is_none());
        if services.is_empty() {
            return Ok(None);
        }
        let names: Vec<&str> = services.iter().map(String::as_str).collect();
        let f = task_filters(&names, true);
        let tasks = match socket {
            Some(sock) => {
                let path = format!("/tasks?filters={}", super::raw_get::filters(&f));
                self.last.get_if_changed(sock, &path).await?
            }
            None => Some(docker.list_tasks(Some(ListTasksOptionsBuilder::default().filters(&f).build())).await?),
        };
        Ok(tasks.map(|t| (services, t)))
    }
}

/// What the feed asks of the watch task.
#[derive(Debug)]
pub(super) enum Order {
    /// A service changed: watch it for [`WINDOW`] from now.
    Start(String),
    /// A service was removed: watch it no more.
    Stop(String),
}

/// What the watch task tells the feed.
#[derive(Debug)]
pub(super) enum News {
    /// The watched services' tasks meant to run, changed since the last news. No services: the
    /// watch ended, and the feed's reads of the whole swarm count again for every service.
    Tasks(Vec<String>, Vec<Task>),
    /// A watched service is gone (the engine answered 404): the watch starts over empty.
    Gone,
    /// The manager failed or did not answer in time: the session is lost (the message says
    /// why, made inert by the engine module's classification).
    Lost(String),
}

/// Start the watch task on `docker` (`socket`: the engine's local socket, whose answers are
/// compared as bytes). It ends when the feed drops its end of either channel, or after it
/// has sent [`News::Lost`].
pub(super) fn spawn(
    docker: Docker,
    socket: Option<PathBuf>,
    host: String,
) -> (mpsc::UnboundedSender<Order>, mpsc::Receiver<News>) {
    let (order_tx, mut orders) = mpsc::unbounded_channel();
    let (tx, news) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut w = Watch::default();
        // Whether the feed holds an answer of this watch, to be told when the watch ends.
        let mut told = false;
        loop {
            let due = w.due();
            let heard = tokio::select! {
                () = tx.closed() => return,
                o = orders.recv() => {
                    match o {
                        None => return,
                        Some(Order::Start(s)) => w.start(s, Instant::now()),
                        Some(Order::Stop(s)) => w.stop(&s),
                    }
                    continue;
                }
                () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    tokio::time::timeout(super::CALL_TIMEOUT, w.read(&docker, socket.as_deref())).await
                }
            };
            let news = match heard {
                Ok(Ok(Some((services, fresh)))) => Some(News::Tasks(services, fresh)),
                Ok(Ok(None)) if told && w.due().is_none() => Some(News::Tasks(Vec::new(), Vec::new())),
                Ok(Ok(None)) => None,
                Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => {
                    w = Watch::default();
                    Some(News::Gone)
                }
                Ok(Err(e)) => Some(News::Lost(super::describe(&host, &e))),
                Err(_) => Some(News::Lost(format!("the swarm manager at {host} did not answer in time"))),
            };
            let Some(news) = news else { continue };
            told = matches!(&news, News::Tasks(s, _) if !s.is_empty());
            let lost = matches!(news, News::Lost(_));
            if tx.send(news).await.is_err() || lost {
                return;
            }
        }
    });
    (order_tx, news)
}

/// Put `fresh`, the tasks of `services`, in place of those services' tasks in `tasks`.
pub(super) fn replace_tasks_of(tasks: &mut Vec<Task>, services: &[String], fresh: Vec<Task>) {
    tasks.retain(|t| !t.service_id.as_ref().is_some_and(|s| services.contains(s)));
    tasks.extend(fresh);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, service: &str) -> Task {
        Task { id: Some(id.into()), service_id: Some(service.into()), ..Task::default() }
    }

    #[test]
    fn a_watch_ends_with_its_window_and_is_read_more_slowly_the_more_services_it_has() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert_eq!(w.due(), None, "nothing watched, nothing due");
        w.start("a".into(), t0);
        assert_eq!(w.due(), Some(t0));
        assert_eq!(w.services(t0, false), vec!["a".to_owned()]);
        assert_eq!(w.due(), Some(t0 + BURST_GAP), "right after the event: the burst's gap");
        let later = t0 + BURST;
        assert_eq!(w.services(later, false), vec!["a".to_owned()]);
        assert_eq!(w.due(), Some(later + GAP), "after the burst: the usual gap");
        w.services(later, true);
        assert_eq!(w.due(), Some(later + REMOTE_GAP), "a remote engine has no burst");
        let t1 = t0 + Duration::from_secs(1);
        for s in ["b", "c", "d", "e"] {
            w.start(s.into(), t1);
        }
        assert_eq!(w.services(t1, false).len(), 5);
        assert_eq!(w.due(), Some(t1 + BURST_GAP * 3), "a new event starts a burst; 5 services: 3 gaps");
        assert_eq!(w.services(t1 + BURST, false).len(), 5);
        assert_eq!(w.due(), Some(t1 + BURST + GAP * 3), "5 services: 3 gaps");
        assert_eq!(w.services(t1, true).len(), 5);
        assert_eq!(w.due(), Some(t1 + REMOTE_GAP * 3));
        w.stop("e");
        assert_eq!(w.services(t1 + BURST, false).len(), 4, "a removed service is watched no more");
        // "a"'s window ends 3 s after its event, the others' 1 s later.
        assert_eq!(w.services(t0 + WINDOW, false), ["b", "c", "d"]);
        assert!(w.services(t1 + WINDOW, false).is_empty());
        assert_eq!(w.due(), None, "every window is closed");
    }

    #[test]
    fn a_fresh_answer_replaces_the_watched_services_tasks_only() {
        let mut tasks = vec![task("1", "a"), task("2", "b"), task("3", "a"), task("4", "c")];
        replace_tasks_of(&mut tasks, &["a".into(), "c".into()], vec![task("5", "a")]);
        let ids: Vec<_> = tasks.iter().filter_map(|t| t.id.as_deref()).collect();
        assert_eq!(ids, ["2", "5"], "b's task kept, a's replaced, c's gone (none meant to run)");
    }

    #[test]
    fn the_watched_services_tasks_are_asked_for_together_and_parsed_only_when_they_changed() {
        let one = r#"[{"ID":"t1","ServiceID":"a","DesiredState":"running","Status":{"State":"pending"}}]"#;
        let two = r#"[{"ID":"t1","ServiceID":"a","DesiredState":"running","Status":{"State":"running"}}]"#;
        let (_dir, sock, engine) = super::super::raw_get::fake_engine(vec![one, one, two]);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let docker = Docker::connect_with_unix(sock.to_str().unwrap(), 5, bollard::API_DEFAULT_VERSION).unwrap();
        let mut w = Watch::default();
        rt.block_on(async {
            let now = Instant::now();
            w.start("b".into(), now);
            w.start("a".into(), now);
            let (services, first) = w.read(&docker, Some(&sock)).await.unwrap().expect("the first answer is new");
            assert_eq!(services, ["a", "b"]);
            assert_eq!(first[0].status.as_ref().and_then(|s| s.state), Some(bollard::models::TaskState::PENDING));
            assert!(w.read(&docker, Some(&sock)).await.unwrap().is_none(), "the same bytes: not parsed");
            let (_, third) = w.read(&docker, Some(&sock)).await.unwrap().expect("a changed answer");
            assert_eq!(third[0].status.as_ref().and_then(|s| s.state), Some(bollard::models::TaskState::RUNNING));
        });
        let asked = engine.join().unwrap();
        let want =
            format!("GET /tasks?filters={} HTTP/1.1", super::super::raw_get::filters(&task_filters(&["a", "b"], true)));
        assert!(want.contains("service") && want.contains("desired-state"), "{want}");
        assert!(asked.iter().all(|l| *l == want), "{asked:?} vs {want}");
    }

    #[test]
    fn the_watch_task_tells_the_feed_what_changed_that_a_service_is_gone_and_that_the_engine_failed() {
        let one = r#"[{"ID":"t1","ServiceID":"a","DesiredState":"running","Status":{"State":"pending"}}]"#;
        let gone = r#"{"message":"service a not found"}"#;
        let broken = r#"{"message":"\u001b[2Jrpc error"}"#;
        let (_dir, sock, engine) = super::super::raw_get::fake_engine_with(vec![
            (200, one),
            (200, one),
            (404, gone),
            (200, one),
            (500, broken),
        ]);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let docker = Docker::connect_with_unix(sock.to_str().unwrap(), 5, bollard::API_DEFAULT_VERSION).unwrap();
            let (orders, mut news) = spawn(docker, Some(sock.clone()), "unix:///fake".into());
            orders.send(Order::Start("a".into())).unwrap();
            match news.recv().await {
                Some(News::Tasks(services, tasks)) => {
                    assert_eq!(services, ["a"]);
                    assert_eq!(tasks.len(), 1);
                }
                other => panic!("first answer: {other:?}"),
            }
            // The second answer is the same bytes: no news. The third is a 404.
            assert!(matches!(news.recv().await, Some(News::Gone)), "a 404 ends the watch");
            // Nothing is watched now, so nothing is read until the feed asks again.
            orders.send(Order::Start("a".into())).unwrap();
            assert!(matches!(news.recv().await, Some(News::Tasks(..))), "watched again from scratch");
            match news.recv().await {
                Some(News::Lost(why)) => {
                    assert!(why.contains("rpc error") && !why.contains('\u{1b}'), "inert: {why:?}");
                }
                other => panic!("a 500 loses the session: {other:?}"),
            }
            assert!(news.recv().await.is_none(), "the task ends after it lost the engine");
        });
        assert_eq!(engine.join().unwrap().len(), 5);
    }
}
