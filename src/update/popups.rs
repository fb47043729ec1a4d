//! The actions' popups and the start of operations. A mutating key opens a popup (a y/n
//! confirmation, the image picker, the backup job list, the restore list, or a typed
//! confirmation); only the popup's confirmation starts the operation. The emergency stop always
//! takes the screen: it replaces whatever popup or prompt was open, and empties the queue of
//! popups that arrived meanwhile (`AppState::offer_popup`). One popup is on screen at a time.

use super::{Effect, MAX_INPUT, typed_char};
use crate::config::{Action, Keymap, Mode};
use crate::domain::{BackupStatus, OpRequest};
use crate::state::{AppState, OpView, Popup};
use crossterm::event::KeyEvent;

/// Tags shown by the picker: those containing what was typed.
pub fn picker_choices<'a>(tags: &'a [String], input: &str) -> Vec<&'a str> {
    tags.iter().map(String::as_str).filter(|t| input.is_empty() || t.contains(input)).collect()
}

pub(super) fn start_op(state: &mut AppState, request: OpRequest, fx: &mut Vec<Effect>) {
    // A shell has the terminal: it is not a background operation.
    if let OpRequest::Exec { target, cmd } = request {
        fx.push(Effect::Exec { target, cmd });
        return;
    }
    let id = state.next_op;
    state.next_op += 1;
    let cancellable = request.cancellable();
    state.ops.push(OpView {
        id,
        title: request.title(),
        request: request.clone(),
        lines: Vec::new(),
        done: None,
        cancellable,
        dismissed: false,
    });
    if state.ops.len() > 20 {
        state.ops.remove(0);
    }
    fx.push(Effect::RunOp { id, request });
}

/// Keys while a popup of the actions is open. Returns true when the key was taken.
pub(super) fn on_popup_key(state: &mut AppState, keymap: &Keymap, k: &KeyEvent, fx: &mut Vec<Effect>) -> bool {
    // The emergency stop wins over a popup that does not take text: its confirmation replaces
    // the popup. (In the image picker and the typed confirmation the key is text: esc first.)
    let takes_text = matches!(
        state.ui.popup,
        Some(Popup::Picker { .. } | Popup::Typed { .. } | Popup::Reason { .. } | Popup::Release { .. })
    );
    let stop_shown = matches!(state.ui.popup, Some(Popup::Confirm(OpRequest::Stop { .. })));
    if state.ui.popup.is_some()
        && !takes_text
        && !stop_shown
        && keymap.action(Mode::Global, k) == Some(Action::EmergencyStop)
    {
        // What was open, and what waited behind it, is closed: nothing of it is done, and no
        // confirmation comes back after the stop to be answered by a reflex.
        let closed = state.ui.queue.len() + 1;
        state.ui.popup = None;
        state.ui.queue.clear();
        on_mutating(state, Action::EmergencyStop, fx);
        if state.ui.popup.is_some() {
            state.ui.notice = Some(format!(
                "the emergency stop closed {closed} popup{}: nothing of {} was done",
                if closed == 1 { "" } else { "s" },
                if closed == 1 { "it" } else { "them" }
            ));
        }
        return true;
    }
    match state.ui.popup.take() {
        None => false,
        Some(Popup::Inspect { mut scroll, view }) => {
            match keymap.action(Mode::Picker, k) {
                Some(Action::PickerNext) => scroll += 1,
                Some(Action::PickerPrev) => scroll = scroll.saturating_sub(1),
                Some(Action::PickerCancel | Action::PickerAccept) => return true,
                _ => {}
            }
            state.ui.popup = Some(Popup::Inspect { scroll, view });
            true
        }
        Some(Popup::Environments { selected }) => {
            super::environments::on_key(state, keymap, k, selected);
            true
        }
        Some(Popup::Pin { target, diff, line }) => {
            match keymap.action(Mode::Confirm, k) {
                Some(Action::Confirm) => start_op(state, OpRequest::Pin { target, line }, fx),
                Some(Action::Deny) => state.ui.notice = Some("cancelled: nothing was written".into()),
                _ => state.ui.popup = Some(Popup::Pin { target, diff, line }),
            }
            true
        }
        Some(Popup::Confirm(request)) => {
            match keymap.action(Mode::Confirm, k) {
                Some(Action::Confirm) => {
                    // Nothing that waited opens over a stop that has just been started.
                    if matches!(request, OpRequest::Stop { .. }) && !state.ui.queue.is_empty() {
                        state.ui.notice = Some(format!(
                            "{} waiting popup(s) closed for the stop: nothing of them was done",
                            state.ui.queue.len()
                        ));
                        state.ui.queue.clear();
                    }
                    start_op(state, request, fx);
                }
                Some(Action::Deny) => state.ui.notice = Some("cancelled: nothing was done".into()),
                _ => state.ui.popup = Some(Popup::Confirm(request)),
            }
            true
        }
        Some(Popup::Jobs { mut jobs, mut selected }) => {
            match keymap.action(Mode::Picker, k) {
                Some(Action::PickerNext) => selected = (selected + 1).min(jobs.len().saturating_sub(1)),
                Some(Action::PickerPrev) => selected = selected.saturating_sub(1),
                Some(Action::PickerToggle) => {
                    if let Some((_, on)) = jobs.get_mut(selected) {
                        *on = !*on;
                    }
                }
                Some(Action::PickerCancel) => return true,
                Some(Action::PickerAccept) => {
                    let chosen: Vec<String> = jobs.iter().filter(|(_, on)| *on).map(|(n, _)| n.clone()).collect();
                    if chosen.is_empty() {
                        state.ui.notice = Some("choose at least one job".into());
                    } else {
                        // Every job chosen is the same as "all": the title says so.
                        let jobs = if chosen.len() == jobs.len() { Vec::new() } else { chosen };
                        state.ui.popup = Some(Popup::Confirm(OpRequest::Backup { jobs }));
                        return true;
                    }
                }
                _ => {}
            }
            state.ui.popup = Some(Popup::Jobs { jobs, selected });
            true
        }
        Some(Popup::Restore { choices, mut selected }) => {
            match keymap.action(Mode::Picker, k) {
                Some(Action::PickerNext) => selected = (selected + 1).min(choices.len().saturating_sub(1)),
                Some(Action::PickerPrev) => selected = selected.saturating_sub(1),
                Some(Action::PickerCancel) => return true,
                Some(Action::PickerAccept) => {
                    if let Some((backup, job, word)) = choices.get(selected).cloned() {
                        let request = OpRequest::Restore { backup, job };
                        state.ui.popup = Some(Popup::Typed { request, word, input: String::new() });
                        return true;
                    }
                }
                _ => {}
            }
            state.ui.popup = Some(Popup::Restore { choices, selected });
            true
        }
        Some(Popup::Reason { target, mut input }) => {
            match edit(keymap, k, &mut input) {
                Some(Action::PickerCancel) => {
                    state.ui.notice = Some("cancelled: the service stays stopped".into());
                    return true;
                }
                Some(Action::PickerAccept) if !input.trim().is_empty() => {
                    let request = OpRequest::Start { target, reason: Some(input.trim().to_owned()) };
                    match confirmation(state, request) {
                        Popup::Confirm(request) => start_op(state, request, fx),
                        typed => state.ui.popup = Some(typed),
                    }
                    return true;
                }
                Some(_) => state.ui.notice = Some("say why it may run again, or esc".into()),
                None => {}
            }
            state.ui.popup = Some(Popup::Reason { target, input });
            true
        }
        Some(Popup::Release { targets, mut input }) => {
            match edit(keymap, k, &mut input) {
                Some(Action::PickerCancel) => {
                    state.ui.notice = Some("cancelled: nothing was done (the services stay marked)".into());
                    return true;
                }
                Some(_) => match crate::domain::check_tag(input.trim()) {
                    Ok(()) => {
                        let request = OpRequest::Release { targets, tag: input.trim().to_owned(), stop_first: false };
                        state.services.marked.clear();
                        state.ui.popup = Some(confirmation(state, request));
                        return true;
                    }
                    Err(e) => state.ui.notice = Some(e),
                },
                None => {}
            }
            state.ui.popup = Some(Popup::Release { targets, input });
            true
        }
        Some(Popup::Typed { request, word, mut input }) => {
            match edit(keymap, k, &mut input) {
                Some(Action::PickerCancel) => {
                    state.ui.notice = Some("cancelled: nothing was done".into());
                    return true;
                }
                Some(_) if input == word => {
                    start_op(state, request, fx);
                    return true;
                }
                Some(_) => state.ui.notice = Some(format!("type {word} exactly to go ahead, or esc to do nothing")),
                None => {}
            }
            state.ui.popup = Some(Popup::Typed { request, word, input });
            true
        }
        Some(Popup::Picker { target, current, tags, mut input, mut selected }) => {
            let choices: Vec<String> = match &tags {
                Some(Ok(t)) => picker_choices(t, &input).into_iter().map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            match keymap.action(Mode::Picker, k) {
                Some(Action::PickerNext) => selected = (selected + 1).min(choices.len().saturating_sub(1)),
                Some(Action::PickerPrev) => selected = selected.saturating_sub(1),
                Some(Action::PickerCancel) => return true,
                Some(Action::PickerErase) => {
                    input.pop();
                    selected = 0;
                }
                Some(Action::PickerAccept) => {
                    let image = choices.get(selected).cloned().or_else(|| (!input.is_empty()).then(|| input.clone()));
                    match image {
                        Some(image) => {
                            state.ui.popup =
                                Some(confirmation(state, OpRequest::Deploy { target, image, stop_first: false }))
                        }
                        None => {
                            state.ui.notice = Some("type an image reference or pick a tag".into());
                            state.ui.popup = Some(Popup::Picker { target, current, tags, input, selected });
                        }
                    }
                    return true;
                }
                _ => {
                    if let Some(c) = typed_char(k)
                        && input.len() < MAX_INPUT
                    {
                        input.push(c);
                        selected = 0;
                    }
                }
            }
            state.ui.popup = Some(Popup::Picker { target, current, tags, input, selected });
            true
        }
    }
}

pub(super) fn on_mutating(state: &mut AppState, action: Action, fx: &mut Vec<Effect>) {
    if state.read_only {
        state.ui.notice = Some(format!("read-only: {} is disabled", action.name()));
        return;
    }
    let selected = state.services.selected().map(|c| (c.key.to_string(), c.image.clone()));
    if action != Action::EmergencyStop && action != Action::CancelOperation && state.op_running() {
        state.ui.notice = Some("an operation is running: wait for it or cancel it".into());
        return;
    }
    match action {
        Action::EmergencyStop => {
            let targets = state.kill_switch_plan().targets;
            if targets.is_empty() {
                state.ui.notice = Some("emergency stop: no kill-switch service configured and none selected".into());
                return;
            }
            state.ui.help = false;
            state.ui.search_input = None;
            state.ui.popup =
                Some(Popup::Confirm(OpRequest::Stop { targets, reason: Some("emergency stop from the panel".into()) }));
        }
        Action::Backup => {
            if state.backup_jobs.is_empty() {
                state.ui.notice = Some("no backup jobs configured: add [[backup.jobs]] to the config".into());
                return;
            }
            let jobs = state.backup_jobs.iter().map(|j| (j.clone(), true)).collect();
            state.ui.popup = Some(Popup::Jobs { jobs, selected: 0 });
        }
        Action::Restore => {
            let choices: Vec<(String, String, String)> = state
                .history
                .backups
                .iter()
                .filter(|m| m.status == BackupStatus::Good)
                .flat_map(|m| {
                    m.jobs.iter().filter_map(|j| {
                        let word = state.restorable.iter().find(|(n, _)| *n == j.name).map(|(_, w)| w.clone())?;
                        Some((m.id.clone(), j.name.clone(), word))
                    })
                })
                .collect();
            if choices.is_empty() {
                state.ui.notice = Some(
                    "no verified backup of a restorable job (a PostgreSQL dump, or a job with a restore command)"
                        .into(),
                );
                return;
            }
            state.ui.popup = Some(Popup::Restore { choices, selected: 0 });
        }
        Action::CancelOperation => match state.ops.iter().find(|o| o.done.is_none() && o.cancellable) {
            Some(op) => {
                fx.push(Effect::CancelOp { id: op.id });
                state.ui.notice = Some(format!("cancelling: {}", op.title));
            }
            None => state.ui.notice = Some("no cancellable operation is running".into()),
        },
        Action::Exec => {
            let Some(c) = state.services.selected() else {
                state.ui.notice = Some("select a container first".into());
                return;
            };
            if c.state != crate::domain::RunState::Running {
                state.ui.notice = Some(format!("{} is not running: nothing to open a shell in", c.name));
                return;
            }
            let request = OpRequest::Exec { target: c.key.to_string(), cmd: vec!["sh".into()] };
            match confirmation(state, request) {
                Popup::Confirm(OpRequest::Exec { target, cmd }) => fx.push(Effect::Exec { target, cmd }),
                typed => state.ui.popup = Some(typed),
            }
        }
        Action::Mark => {
            let Some((target, _)) = selected else {
                state.ui.notice = Some("select a service first".into());
                return;
            };
            let m = &mut state.services.marked;
            if !m.remove(&target) {
                m.insert(target);
            }
            state.ui.notice = Some(if m.is_empty() {
                "no service marked: deploy is for the selected service again".into()
            } else {
                format!(
                    "marked for a release: {} (deploy now moves them all to one tag)",
                    m.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            });
        }
        Action::Pin => {
            let Some(c) = state.services.selected() else {
                state.ui.notice = Some("select a service first".into());
                return;
            };
            if !state.compose.drift.contains_key(&c.key) {
                state.ui.notice = Some(format!("{}: its compose file runs what runs now: nothing to pin", c.key));
                return;
            }
            fx.push(Effect::PinPreview { target: c.key.to_string() });
            state.ui.notice = Some(format!("pin {}: reading its compose files and .env…", c.key));
        }
        Action::Deploy if !state.services.marked.is_empty() => {
            let targets = state.services.marked.iter().cloned().collect();
            state.ui.popup = Some(Popup::Release { targets, input: String::new() });
        }
        Action::StartService | Action::Deploy | Action::Rollback | Action::Recover => {
            let Some((target, image)) = selected else {
                state.ui.notice = Some("select a service first".into());
                return;
            };
            state.ui.popup = Some(match action {
                // Clearing an emergency stop takes a reason (engaging it took one key).
                Action::StartService if state.history.kill_switches.iter().any(|k| k.service == target) => {
                    Popup::Reason { target, input: String::new() }
                }
                Action::StartService => confirmation(state, OpRequest::Start { target, reason: None }),
                Action::Rollback => confirmation(state, OpRequest::Rollback { target }),
                Action::Recover => Popup::Confirm(OpRequest::Recover { target }),
                _ => {
                    fx.push(Effect::LoadTags { target: target.clone(), image: image.clone() });
                    Popup::Picker { target, current: image, tags: None, input: String::new(), selected: 0 }
                }
            });
        }
        _ => {}
    }
}

/// How a deploy, rollback or start is confirmed: one key, or in production the service's name
/// typed (the emergency stop is never asked for more: it must not get slower in production).
pub(super) fn confirmation(state: &AppState, request: OpRequest) -> Popup {
    let production = state.environment.as_ref().is_some_and(crate::domain::EnvBadge::is_production);
    let target = match &request {
        OpRequest::Deploy { target, .. }
        | OpRequest::Rollback { target }
        | OpRequest::Start { target, .. }
        | OpRequest::Exec { target, .. } => Some(target.clone()),
        OpRequest::Release { .. } => Some("release".into()),
        _ => None,
    };
    match target {
        Some(t) if production => {
            let word = t.rsplit('/').next().unwrap_or(&t).to_owned();
            Popup::Typed { request, word, input: String::new() }
        }
        _ => Popup::Confirm(request),
    }
}

/// A key in a one-line text prompt: erase and printable keys edit `input` (`None`); accept and
/// cancel are returned for the prompt to act on.
fn edit(keymap: &Keymap, k: &KeyEvent, input: &mut String) -> Option<Action> {
    match keymap.action(Mode::Picker, k) {
        Some(a @ (Action::PickerAccept | Action::PickerCancel)) => Some(a),
        Some(Action::PickerErase) => {
            input.pop();
            None
        }
        _ => {
            if let Some(c) = typed_char(k)
                && input.len() < MAX_INPUT
            {
                input.push(c);
            }
            None
        }
    }
}
