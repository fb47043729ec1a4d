//! Engine events as timeline rows (inert and masked here, at the boundary), and the catch-up
//! read of what happened in the window before stackdeck connected.

use super::{Options, convert, project_filter};
use crate::domain::{Happen, Happening, Tone};
use crate::logtext::{Masker, clean};
use crate::msg::{EngineEvent, Msg};
use bollard::Docker;
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use std::collections::{HashMap, VecDeque};
use tokio::sync::mpsc;

/// The container events the timeline shows (what the panel's own watch adds is not news).
pub(super) const CONTAINER_EVENTS: &[&str] = &["die", "oom", "kill", "restart", "start", "stop", "health_status"];

/// Label of a swarm task's service (a container made by the orchestrator).
const LABEL_SWARM_SERVICE: &str = "com.docker.swarm.service.name";

/// How long the catch-up read may take before it is given up (it says so).
const CATCH_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The catch-up reads this far past its start: the live stream's request is made when the
/// session first waits on it, moments later, and what happens in between must be in one of the
/// two (a row read by both is kept once).
const OVERLAP: jiff::SignedDuration = jiff::SignedDuration::from_secs(3);

/// An engine time with its fraction (`1800000000.123456789`): whole seconds would cut off what
/// happened earlier in the same second.
pub(super) fn engine_time(t: jiff::Timestamp) -> String {
    format!("{}.{:09}", t.as_second(), t.subsec_nanosecond().max(0))
}

fn signal_name(n: &str) -> String {
    let name = match n.trim() {
        "1" => "SIGHUP",
        "2" => "SIGINT",
        "3" => "SIGQUIT",
        "6" => "SIGABRT",
        "9" => "SIGKILL",
        "15" => "SIGTERM",
        other => return format!("signal {other}"),
    };
    name.to_owned()
}

/// One engine event as a timeline row; `None` for what the timeline does not show.
pub fn happening(ev: &EventMessage, masker: &Masker) -> Option<Happening> {
    let action = ev.action.as_deref()?;
    let actor = ev.actor.as_ref()?;
    let id = actor.id.as_deref().unwrap_or_default();
    let empty = HashMap::new();
    let attrs = actor.attributes.as_ref().unwrap_or(&empty);
    let at = match ev.time_nano {
        Some(n) => jiff::Timestamp::from_nanosecond(i128::from(n)).ok()?,
        None => jiff::Timestamp::from_second(ev.time?).ok()?,
    };
    let key = format!("{}|{}|{action}", ev.time_nano.unwrap_or_else(|| ev.time.unwrap_or(0)), clean(id, masker));
    if ev.typ == Some(EventMessageTypeEnum::IMAGE) {
        if action != "pull" {
            return None;
        }
        let image = attrs.get("name").map_or(id, String::as_str);
        return Some(Happening {
            at,
            kind: Happen::Pulled,
            service: String::new(),
            subject: clean(image, masker),
            what: "pulled".into(),
            tone: Tone::Plain,
            key,
            container: None,
            times: 1,
        });
    }
    if ev.typ.is_some_and(|t| t != EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let name = clean(attrs.get("name").map_or("", String::as_str), masker);
    let service = match (attrs.get(convert::LABEL_PROJECT), attrs.get(convert::LABEL_SERVICE)) {
        (Some(p), Some(s)) => format!("{}/{}", clean(p, masker), clean(s, masker)),
        _ => attrs.get(LABEL_SWARM_SERVICE).map_or_else(|| name.clone(), |s| clean(s, masker)),
    };
    let (kind, what, tone) = match action {
        "die" => {
            let code = attrs.get("exitCode").map_or("?", String::as_str);
            let tone = if code == "0" { Tone::Plain } else { Tone::Bad };
            (Happen::Died, format!("exited with code {}", clean(code, masker)), tone)
        }
        "oom" => (Happen::Oom, "ran out of memory: the kernel killed a process".to_owned(), Tone::Bad),
        "kill" => {
            let sig = signal_name(&clean(attrs.get("signal").map_or("?", String::as_str), masker));
            (Happen::Killed, format!("was sent {sig}"), Tone::Warn)
        }
        "restart" => (Happen::Restarted, "restarted".to_owned(), Tone::Warn),
        "start" => (Happen::Started, "started".to_owned(), Tone::Good),
        "stop" => (Happen::Stopped, "stopped".to_owned(), Tone::Warn),
        a => {
            let status = a.strip_prefix("health_status:")?.trim();
            let tone = match status {
                "healthy" => Tone::Good,
                "unhealthy" => Tone::Bad,
                _ => Tone::Plain,
            };
            (Happen::Health, clean(status, masker), tone)
        }
    };
    Some(Happening { at, kind, service, subject: name, what, tone, key, container: Some(clean(id, masker)), times: 1 })
}

/// Read the engine's events of the configured window before now, for the timeline, beside the
/// session (a slow answer holds nothing up). Every connect reads it: the rows it repeats are
/// told apart by their keys, and a gap while the engine was unreachable is filled.
pub(super) fn start_catch_up(docker: &Docker, opts: &Options, tx: &mpsc::Sender<Msg>) {
    if opts.timeline_since.is_zero() || opts.timeline_keep == 0 {
        return;
    }
    let span = jiff::SignedDuration::try_from(opts.timeline_since).unwrap_or(jiff::SignedDuration::ZERO);
    let since = jiff::Timestamp::now().checked_sub(span).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    tokio::spawn(catch_up(docker.clone(), opts.clone(), since, tx.clone()));
}

/// Read what happened from `since` until now (engine events are kept by the engine; what it no
/// longer has is not shown) and send the newest `keep` of them as one message. A failure is
/// said in the panel's log, not retried: the live stream is already running.
pub(super) async fn catch_up(docker: Docker, opts: Options, since: jiff::Timestamp, tx: mpsc::Sender<Msg>) {
    let until = jiff::Timestamp::now().checked_add(OVERLAP).unwrap_or_else(|_| jiff::Timestamp::now());
    let read = async {
        let mut rows: VecDeque<Happening> = VecDeque::new();
        let mut containers = project_filter(opts.project.as_deref());
        containers.insert("type".into(), vec!["container".into()]);
        containers.insert("event".into(), CONTAINER_EVENTS.iter().map(|e| (*e).to_owned()).collect());
        let mut images = HashMap::new();
        images.insert("type".to_owned(), vec!["image".to_owned()]);
        images.insert("event".to_owned(), vec!["pull".to_owned()]);
        for filters in [containers, images] {
            let o = EventsOptionsBuilder::default()
                .since(&engine_time(since))
                .until(&engine_time(until))
                .filters(&filters)
                .build();
            let mut s = docker.events(Some(o)).boxed();
            while let Some(ev) = s.next().await {
                if let Some(h) = happening(&ev?, &opts.masker) {
                    rows.push_back(h);
                    if rows.len() > opts.timeline_keep {
                        rows.pop_front();
                    }
                }
            }
        }
        Ok::<_, bollard::errors::Error>(rows)
    };
    match tokio::time::timeout(CATCH_UP_TIMEOUT, read).await {
        Ok(Ok(rows)) => {
            tracing::info!("timeline: {} engine events since {since}", rows.len());
            let _ = tx.send(Msg::Engine(EngineEvent::Happened(rows.into()))).await;
        }
        Ok(Err(e)) => tracing::warn!(
            "timeline: the engine's past events could not be read: {}",
            clean(&e.to_string(), &opts.masker)
        ),
        Err(_) => tracing::warn!("timeline: the engine's past events took over 30 s to read; shown from now on"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(typ: EventMessageTypeEnum, action: &str, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("abc123".into()),
                attributes: Some(attrs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
            }),
            scope: None,
            time: Some(1_700_000_000),
            time_nano: Some(1_700_000_000_123_456_789),
        }
    }

    fn masker() -> Masker {
        Masker::new([], ["hunter2"]).expect("masker")
    }

    #[test]
    fn container_events_become_rows_with_exit_codes_signals_and_health() {
        let m = masker();
        let labels = [("name", "shop-bot-1"), (convert::LABEL_PROJECT, "shop"), (convert::LABEL_SERVICE, "bot")];
        let with = |action: &str, extra: (&str, &str)| {
            let mut a = labels.to_vec();
            a.push(extra);
            happening(&event(EventMessageTypeEnum::CONTAINER, action, &a), &m).expect("a row")
        };
        let died = with("die", ("exitCode", "137"));
        assert_eq!((died.kind, died.tone, died.service.as_str()), (Happen::Died, Tone::Bad, "shop/bot"));
        assert_eq!((died.subject.as_str(), died.what.as_str()), ("shop-bot-1", "exited with code 137"));
        assert_eq!(died.at.as_nanosecond(), 1_700_000_000_123_456_789);
        assert_eq!(with("die", ("exitCode", "0")).tone, Tone::Plain);
        assert_eq!(with("kill", ("signal", "9")).what, "was sent SIGKILL");
        assert_eq!(with("kill", ("signal", "10")).what, "was sent signal 10");
        let sick = with("health_status: unhealthy", ("x", "y"));
        assert_eq!((sick.kind, sick.tone), (Happen::Health, Tone::Bad));
        assert_eq!(sick.what, "unhealthy");
        assert_eq!(with("oom", ("x", "y")).kind, Happen::Oom);
        // Not news for the timeline.
        assert!(happening(&event(EventMessageTypeEnum::CONTAINER, "exec_start: sh", &labels), &m).is_none());
        assert!(happening(&event(EventMessageTypeEnum::NETWORK, "connect", &labels), &m).is_none());
    }

    #[test]
    fn every_text_from_the_engine_is_inert_and_masked() {
        let m = masker();
        let attrs =
            [("name", "evil\x1b[2J-hunter2"), (convert::LABEL_PROJECT, "p\x07"), (convert::LABEL_SERVICE, "s\r\n")];
        let h = happening(&event(EventMessageTypeEnum::CONTAINER, "die", &attrs), &m).expect("a row");
        for text in [&h.what, &h.service, &h.subject] {
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(!text.contains("hunter2"), "{text:?}");
        }
        let pull = happening(&event(EventMessageTypeEnum::IMAGE, "pull", &[("name", "reg/x:hunter2\x1b]0;t\x07")]), &m);
        let pull = pull.expect("a pull row");
        assert_eq!(pull.kind, Happen::Pulled);
        assert!(!pull.subject.contains("hunter2") && !pull.subject.chars().any(char::is_control), "{:?}", pull.subject);
        assert!(happening(&event(EventMessageTypeEnum::IMAGE, "tag", &[]), &m).is_none());
    }

    #[test]
    fn a_swarm_task_is_named_by_its_service_and_a_bare_container_by_its_name() {
        let m = masker();
        let t = happening(
            &event(EventMessageTypeEnum::CONTAINER, "start", &[("name", "web.1.x"), (LABEL_SWARM_SERVICE, "web")]),
            &m,
        );
        assert_eq!(t.expect("row").service, "web");
        let b = happening(&event(EventMessageTypeEnum::CONTAINER, "stop", &[("name", "lonely")]), &m);
        assert_eq!(b.expect("row").service, "lonely");
    }
}
