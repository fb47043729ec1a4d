//! An in-memory [`Backend`] for unit tests of the operations' decisions (gate, rollback, abort,
//! dispatch). Everything that an issue calls end to end is tested on the real engine instead
//! (`tests/ops.rs`, `tests/backup.rs`).
//!
//! Each image behaves as its name says: an image whose reference contains `broken` starts and
//! then reports the engine healthcheck as unhealthy; any other image is healthy at once.

use super::{Announce, Ctx, execute};
use crate::backend::{Backend, ExecOutput, Halt, Report, ResolveError, Retired, Service};
use crate::config::Stack;
use crate::domain::{
    Container, ContainerId, EngineError, Health, OpError, OpRequest, Outcome, RestartPolicy, RunState, ServiceKey,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
struct World {
    containers: Vec<(Container, RestartPolicy)>,
    next: u32,
    /// Every call, in order ("halt bot", "launch bot:2", ...).
    calls: Vec<String>,
    execs: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Memory {
    world: Arc<Mutex<World>>,
}

fn container(id: &str, name: &str, image: &str) -> Container {
    Container {
        id: ContainerId(id.into()),
        name: name.into(),
        key: ServiceKey::new(Some("p"), name),
        state: RunState::Running,
        health: if image.contains("broken") { Health::Unhealthy } else { Health::Healthy },
        image: image.into(),
        image_id: format!("sha256:{}", image.replace([':', '-'], "")),
        started_at: None,
        finished_at: None,
        restarts: 0,
        exit_code: None,
        memory_limit: 0,
        pid: None,
        compose: None,
    }
}

impl Memory {
    pub(crate) fn with(services: &[(&str, &str)]) -> Memory {
        let m = Memory::default();
        {
            let mut w = m.world.lock().unwrap();
            for (i, (name, image)) in services.iter().enumerate() {
                w.containers.push((container(&format!("c{i}"), name, image), RestartPolicy::UnlessStopped));
            }
            w.next = services.len() as u32;
        }
        m
    }

    fn w(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    fn call(&self, s: String) {
        self.w().calls.push(s);
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.w().calls.clone()
    }

    /// (name, image, state, restart policy) of every container.
    pub(crate) fn state(&self) -> Vec<(String, String, RunState, RestartPolicy)> {
        self.w().containers.iter().map(|(c, p)| (c.name.clone(), c.image.clone(), c.state, *p)).collect()
    }

    fn with_container<T>(
        &self,
        id: &ContainerId,
        f: impl FnOnce(&mut Container, &mut RestartPolicy) -> T,
    ) -> Option<T> {
        let mut w = self.w();
        w.containers.iter_mut().find(|(c, _)| &c.id == id).map(|(c, p)| f(c, p))
    }
}

#[async_trait]
impl Backend for Memory {
    fn endpoint(&self) -> &str {
        "memory://"
    }

    async fn resolve(&self, target: &str, _project: Option<&str>) -> Result<Service, ResolveError> {
        let svc = target.rsplit('/').next().unwrap_or(target);
        let instances: Vec<Container> =
            self.w().containers.iter().filter(|(c, _)| c.key.service == svc).map(|(c, _)| c.clone()).collect();
        if instances.is_empty() {
            return Err(ResolveError::NotFound(target.into()));
        }
        Ok(Service { key: format!("p/{svc}"), instances })
    }

    async fn instance(&self, id: &ContainerId) -> Result<Option<Container>, EngineError> {
        Ok(self.w().containers.iter().find(|(c, _)| &c.id == id).map(|(c, _)| c.clone()))
    }

    async fn restart_policy(&self, service: &Service) -> Result<RestartPolicy, EngineError> {
        let id = &service.instances[0].id;
        Ok(self.with_container(id, |_, p| *p).unwrap_or_default())
    }

    async fn halt(&self, service: &Service, grace: Option<u32>, report: &mut dyn Report) -> Result<Halt, EngineError> {
        self.call(format!("halt {}", service.key));
        for c in &service.instances {
            report.line(format!("stopping {}", c.name));
            self.with_container(&c.id, |c, p| {
                c.state = RunState::Exited;
                *p = RestartPolicy::No;
            });
        }
        Ok(Halt { grace: grace.unwrap_or(10), ..Halt::default() })
    }

    async fn recipe(&self, instance: &Container) -> Result<Retired, EngineError> {
        self.call(format!("recipe {}", instance.name));
        Ok(Retired {
            id: instance.id.clone(),
            name: instance.name.clone(),
            grace: 10,
            config: serde_json::json!({"image": instance.image}),
        })
    }

    async fn resume(
        &self,
        service: &Service,
        policy: Option<RestartPolicy>,
        _: &mut dyn Report,
    ) -> Result<(), EngineError> {
        self.call(format!("resume {}", service.key));
        for c in &service.instances {
            self.with_container(&c.id, |c, p| {
                c.state = RunState::Running;
                if let Some(pol) = policy {
                    *p = pol;
                }
            });
        }
        Ok(())
    }

    async fn retire(&self, old: &Container, grace: Option<u32>) -> Result<Retired, EngineError> {
        self.call(format!("retire {}", old.name));
        self.with_container(&old.id, |c, _| {
            c.state = RunState::Exited;
            c.name = format!("{}-old", c.name);
        });
        Ok(Retired {
            id: old.id.clone(),
            name: old.name.clone(),
            grace: grace.unwrap_or(10),
            config: serde_json::json!({}),
        })
    }

    async fn launch(&self, retired: &Retired, image: &str) -> Result<ContainerId, EngineError> {
        self.call(format!("launch {image}"));
        let mut w = self.w();
        w.next += 1;
        let c = container(&format!("c{}", w.next), &retired.name, image);
        let id = c.id.clone();
        w.containers.push((c, RestartPolicy::UnlessStopped));
        Ok(id)
    }

    async fn start_first_blockers(&self, instance: &Container) -> Result<Vec<String>, EngineError> {
        Ok(if instance.image.contains("ports") { vec!["it publishes host port 80->80/tcp".into()] } else { vec![] })
    }

    async fn launch_beside(&self, old: &Container, image: &str) -> Result<(Retired, ContainerId), EngineError> {
        self.call(format!("launch beside {image}"));
        let mut w = self.w();
        w.next += 1;
        let mut c = container(&format!("c{}", w.next), &format!("{}{}", old.name, crate::domain::NEXT_SUFFIX), image);
        c.key = old.key.clone();
        let id = c.id.clone();
        w.containers.push((c, RestartPolicy::UnlessStopped));
        let r = Retired { id: old.id.clone(), name: old.name.clone(), grace: 10, config: serde_json::json!({}) };
        Ok((r, id))
    }

    async fn last_words(&self, _id: &ContainerId, _lines: usize) -> Result<Vec<String>, EngineError> {
        Ok(vec!["log: memory backend".into()])
    }

    async fn admit(&self, _new: &ContainerId, old: &Retired) -> Result<(), EngineError> {
        self.call(format!("admit beside {}", old.name));
        Ok(())
    }

    async fn promote(&self, new: &ContainerId, name: &str) -> Result<(), EngineError> {
        self.call(format!("promote {name}"));
        self.with_container(new, |c, _| c.name = name.to_owned());
        Ok(())
    }

    async fn health_budget(&self, _id: &ContainerId) -> Result<Option<Duration>, EngineError> {
        Ok(None)
    }

    async fn discard(&self, id: &ContainerId, _grace: u32) -> Result<(), EngineError> {
        self.call(format!("discard {}", id.0));
        self.w().containers.retain(|(c, _)| &c.id != id);
        Ok(())
    }

    async fn reinstate(&self, retired: &Retired, start: bool) -> Result<(), EngineError> {
        self.call(format!("reinstate {} start={start}", retired.name));
        self.with_container(&retired.id, |c, p| {
            c.name = retired.name.clone();
            if start {
                c.state = RunState::Running;
            } else {
                *p = RestartPolicy::No;
            }
        });
        Ok(())
    }

    async fn commit(&self, retired: &Retired) -> Result<(), EngineError> {
        self.call(format!("commit {}", retired.name));
        self.w().containers.retain(|(c, _)| c.id != retired.id);
        Ok(())
    }

    async fn leftovers(&self, service: &Service) -> Result<Vec<Retired>, EngineError> {
        Ok(service
            .instances
            .iter()
            .filter(|c| c.name.ends_with("-old"))
            .map(|c| Retired {
                id: c.id.clone(),
                name: c.name.trim_end_matches("-old").to_owned(),
                grace: 1,
                config: serde_json::json!({}),
            })
            .collect())
    }

    async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        Ok(Some(format!("sha256:{}", reference.replace([':', '-'], ""))))
    }

    async fn pull(&self, _reference: &str, _limit: Duration) -> Result<(), EngineError> {
        Err(EngineError::Unreachable("no registry in memory".into()))
    }

    async fn keep_image(&self, service: &str, image_id: &str) -> Result<String, EngineError> {
        Ok(self.kept_reference(service, image_id))
    }

    fn kept_reference(&self, service: &str, image_id: &str) -> String {
        format!("keep/{service}:{image_id}")
    }

    async fn local_tags(&self, _reference: &str) -> Result<Vec<String>, EngineError> {
        Ok(vec![])
    }

    async fn exec(
        &self,
        _id: &ContainerId,
        cmd: &[String],
        stdin: Option<mpsc::Receiver<Bytes>>,
        stdout: Option<mpsc::Sender<Bytes>>,
        _limit: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.w().execs.push(cmd.to_vec());
        if let Some(mut rx) = stdin {
            while rx.recv().await.is_some() {}
        }
        if let Some(tx) = stdout {
            let _ = tx.send(Bytes::from_static(b"-- dump\n")).await;
        }
        Ok(ExecOutput { exit_code: 0, stderr: String::new() })
    }

    fn copy_out<'a>(&'a self, _id: &'a ContainerId, _path: &'a str) -> BoxStream<'a, Result<Bytes, EngineError>> {
        Box::pin(futures::stream::empty())
    }
}

pub(super) fn tmp_dir(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sd-mem-{tag}-{}-{nanos}", std::process::id()))
}

pub(super) fn ctx(m: &Memory, config: &str, dir: &std::path::Path) -> Ctx {
    Ctx {
        backend: Arc::new(m.clone()),
        stack: Stack::parse("test.toml", config).unwrap(),
        state_dir: dir.to_path_buf(),
        read_only: false,
        project: None,
        announce: Announce::Off,
        local_state: false,
    }
}

const FAST_GATE: &str = "[engine]\npull = false\n[services.bot]\ngate_tries = 2\ngate_interval_secs = 1\n";

pub(super) async fn run(c: &Ctx, r: OpRequest) -> Result<crate::domain::Done, OpError> {
    execute(c, &r, None, &CancellationToken::new()).await
}

#[tokio::test]
async fn a_healthy_image_replaces_the_old_one_and_is_kept() {
    let dir = tmp_dir("deploy");
    let m = Memory::with(&[("bot", "bot:1")]);
    let c = ctx(&m, FAST_GATE, &dir);
    let done =
        run(&c, OpRequest::Deploy { target: "bot".into(), image: "bot:2".into(), stop_first: false }).await.unwrap();
    assert_eq!(done.outcome, Outcome::Succeeded);
    assert_eq!(m.calls(), ["retire bot", "launch bot:2", "commit bot"]);
    assert_eq!(m.state(), [("bot".into(), "bot:2".into(), RunState::Running, RestartPolicy::UnlessStopped)]);
    let rec = c.store().unwrap().recent(5, None).unwrap();
    assert_eq!((rec[0].action.as_str(), rec[0].outcome), ("deploy", Outcome::Succeeded));
    assert_eq!((rec[1].action.as_str(), rec[1].outcome), ("baseline", Outcome::Succeeded), "bot:1 was healthy");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_unhealthy_image_is_discarded_and_the_old_one_reinstated_and_regated() {
    let dir = tmp_dir("rollback");
    let m = Memory::with(&[("bot", "bot:1")]);
    let c = ctx(&m, FAST_GATE, &dir);
    let e = run(&c, OpRequest::Deploy { target: "bot".into(), image: "bot:2-broken".into(), stop_first: false })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rolled back"), "{e}");
    assert_eq!(m.calls(), ["retire bot", "launch bot:2-broken", "discard c2", "reinstate bot start=true"]);
    assert_eq!(m.state(), [("bot".into(), "bot:1".into(), RunState::Running, RestartPolicy::UnlessStopped)]);
    assert_eq!(c.store().unwrap().recent(1, None).unwrap()[0].outcome, Outcome::RolledBack);
    // Rolling back now goes to the baseline that was healthy before: bot:1 runs already, so
    // there is nothing earlier to go to.
    let e = run(&c, OpRequest::Rollback { target: "bot".into() }).await.unwrap_err();
    assert!(e.to_string().contains("nothing to roll back to"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_emergency_stop_during_the_gate_leaves_the_service_down() {
    let dir = tmp_dir("abort");
    let m = Memory::with(&[("bot", "bot:1")]);
    // A gate that would take long: the stop must end it.
    let c = ctx(
        &m,
        "[engine]\npull = false\n[services.bot]\ngate_tries = 30\ngate_interval_secs = 1\nhealth_url = \"http://127.0.0.1:9/never\"\nprobe_timeout_secs = 1\n",
        &dir,
    );
    let deploy = run(&c, OpRequest::Deploy { target: "bot".into(), image: "bot:2".into(), stop_first: false });
    let stop = async {
        while !m.calls().iter().any(|c| c.starts_with("launch")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        run(&c, OpRequest::Stop { targets: vec!["bot".into()], reason: Some("test".into()) }).await
    };
    let (d, s) = tokio::join!(deploy, stop);
    assert!(s.is_ok(), "{s:?}");
    let e = d.unwrap_err();
    assert!(e.to_string().contains("aborted: emergency stop"), "{e}");
    let calls = m.calls();
    assert!(calls.contains(&"reinstate bot start=false".to_owned()), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("start=true")), "nothing is started again: {calls:?}");
    assert!(m.state().iter().all(|(_, _, st, _)| *st != RunState::Running), "{:?}", m.state());
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn every_request_goes_through_the_one_driver() {
    let dir = tmp_dir("dispatch");
    let m = Memory::with(&[("bot", "bot:1"), ("db", "pg:15")]);
    let config = format!(
        "{FAST_GATE}[backup]\ndir = \"{}\"\n[[backup.jobs]]\nname = \"pg\"\nkind = \"exec\"\nservice = \"db\"\ncommand = [\"pg_dump\"]\nverify = \"postgres\"\nuser = \"u\"\ndatabase = \"trading\"\n",
        dir.join("backups").display()
    );
    let c = ctx(&m, &config, &dir);
    let all = [
        OpRequest::Deploy { target: "bot".into(), image: "bot:2".into(), stop_first: false },
        OpRequest::Rollback { target: "bot".into() },
        OpRequest::Stop { targets: vec!["bot".into(), "db".into()], reason: None },
        OpRequest::Start { target: "bot".into(), reason: Some("limits reset".into()) },
        OpRequest::Start { target: "db".into(), reason: Some("limits reset".into()) },
        OpRequest::Backup { jobs: vec![] },
        // Nothing was left aside: succeeds without a record.
        OpRequest::Recover { target: "bot".into() },
    ];
    for r in &all {
        let done = run(&c, r.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", r.title()));
        assert_eq!(done.outcome, Outcome::Succeeded, "{}", r.title());
    }
    let backup = crate::ops::backup::list(&dir.join("backups")).remove(0).id;
    let restore = OpRequest::Restore { backup, job: "pg".into() };
    run(&c, restore).await.unwrap();
    let actions: Vec<String> =
        c.store().unwrap().recent(20, None).unwrap().into_iter().rev().map(|r| r.action).collect();
    assert_eq!(
        actions,
        ["baseline", "deploy", "rollback", "stop", "stop", "start", "start", "backup", "restore"],
        "every variant was dispatched to its operation and recorded"
    );
    let execs = m.w().execs.clone();
    assert!(execs.iter().any(|c| c[0] == "pg_dump"), "{execs:?}");
    assert!(execs.iter().any(|c| c[0] == "psql" && c.contains(&"trading".to_owned())), "{execs:?}");
    // Read-only refuses every variant before anything happens.
    let ro = Ctx { read_only: true, ..c.clone() };
    let before = m.calls().len();
    for r in all.iter().chain([&OpRequest::Restore { backup: "x".into(), job: "pg".into() }]) {
        assert!(matches!(run(&ro, r.clone()).await, Err(OpError::Refused(_))), "{}", r.title());
    }
    assert_eq!(m.calls().len(), before);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_emergency_stop_during_the_rollback_is_not_undone_by_it() {
    let dir = tmp_dir("stop-rollback");
    let m = Memory::with(&[("bot", "bot:1")]);
    let c = ctx(&m, "[engine]\npull = false\n[services.bot]\ngate_tries = 5\ngate_interval_secs = 1\n", &dir);
    let deploy = run(&c, OpRequest::Deploy { target: "bot".into(), image: "bot:2-broken".into(), stop_first: false });
    let stop = async {
        // The old container is being brought back and gated again.
        while !m.calls().iter().any(|c| c == "reinstate bot start=true") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        run(&c, OpRequest::Stop { targets: vec!["bot".into()], reason: Some("loss limit".into()) }).await
    };
    let (d, s) = tokio::join!(deploy, stop);
    assert!(s.is_ok(), "{s:?}");
    let e = d.unwrap_err().to_string();
    assert!(e.contains("aborted: emergency stop by") && e.contains("loss limit"), "{e}");
    assert!(
        m.state().iter().all(|(_, _, st, p)| *st != RunState::Running && *p == RestartPolicy::No),
        "{:?}",
        m.state()
    );
    let rec = c.store().unwrap().recent(5, None).unwrap();
    let d = rec.iter().find(|r| r.action == "deploy").unwrap();
    assert_eq!(d.outcome, Outcome::Interrupted, "{d:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_stop_before_the_rollback_brings_nothing_back() {
    let dir = tmp_dir("stop-before-rollback");
    let m = Memory::with(&[("bot", "bot:1")]);
    let c = ctx(&m, "[engine]\npull = false\n[services.bot]\ngate_tries = 5\ngate_interval_secs = 1\n", &dir);
    // Latch the service while the broken image is gated: its gate fails at its first try, and
    // the rollback must then leave the old container stopped.
    let deploy = run(&c, OpRequest::Deploy { target: "bot".into(), image: "bot:2-broken".into(), stop_first: false });
    let latch = async {
        while !m.calls().iter().any(|c| c.starts_with("launch")) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let store = c.store().unwrap();
        store
            .set_kill_switch(&crate::domain::KillSwitch {
                service: "p/bot".into(),
                by: "other".into(),
                at: jiff::Timestamp::now(),
                reason: "halt".into(),
                previous_policy: RestartPolicy::UnlessStopped,
                halt: None,
            })
            .unwrap();
    };
    let (d, ()) = tokio::join!(deploy, latch);
    assert!(d.unwrap_err().to_string().contains("emergency stop by other"));
    assert!(!m.calls().iter().any(|c| c.contains("start=true")), "{:?}", m.calls());
    assert!(m.state().iter().all(|(_, _, st, _)| *st != RunState::Running), "{:?}", m.state());
    std::fs::remove_dir_all(dir).ok();
}
