//! The actions' screens: the kill-switch banner, the confirmation popup, the deploy image
//! picker and the progress popup of a running operation.

use super::{View, fit};
use crate::config::{Action, Mode, Slot};
use crate::domain::{OpRequest, Pane};
use crate::state::Popup;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// One line per emergency-stopped service; the height it needs.
pub fn banner_height(v: &View<'_>) -> u16 {
    v.state.history.kill_switches.len().min(3) as u16
}

pub fn banner(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let start = v.keymap.key_label(Mode::Pane(Pane::Services), Action::StartService);
    let lines: Vec<Line<'_>> = v
        .state
        .history
        .kill_switches
        .iter()
        .take(area.height as usize)
        .map(|k| {
            let at = k.at.to_zoned(v.state.tz.clone()).strftime("%Y-%m-%d %H:%M:%S").to_string();
            let hint = if v.state.read_only || start.is_empty() {
                String::new()
            } else {
                format!("  ({start} on the service starts it)")
            };
            // What was and was not done: the halt hook's answer, or that nothing told the bot
            // to cancel its orders.
            let trading = v.stack.settings(&crate::domain::ServiceKey::parse(&k.service)).kill_switch;
            // First, as the narrowest screen keeps the start of the line.
            let done = match &k.halt {
                Some(h) if h.starts_with("halt:") => format!(" | {h} |"),
                Some(h) => format!(" | orders/positions unknown: check the exchange | {h} |"),
                None if trading => " | orders/positions unknown: check the exchange |".to_owned(),
                None => String::new(),
            };
            // Starts that were held since the stop (the history the panel already has).
            let held: Vec<&crate::domain::OpRecord> = v
                .state
                .history
                .records
                .iter()
                .filter(|r| r.action == "restart-blocked" && r.service == k.service && r.started_at >= k.at)
                .collect();
            let done = match held.first() {
                Some(last) => format!(
                    "{done} RESTART BLOCKED {}x, last {} |",
                    held.len(),
                    last.started_at.to_zoned(v.state.tz.clone()).strftime("%H:%M:%S")
                ),
                None => done,
            };
            Line::from(Span::styled(
                fit(
                    &format!(" ■ {} STOPPED{done} by {} at {at}: {}{hint}", k.service, k.by, k.reason),
                    area.width as usize,
                ),
                v.style(Slot::Unhealthy),
            ))
        })
        .collect();
    f.render_widget(Paragraph::new(lines).style(v.style(Slot::Unhealthy)), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))]).flex(Flex::Center).areas(area);
    let [r] = Layout::vertical([Constraint::Length(h.min(area.height))]).flex(Flex::Center).areas(r);
    r
}

fn popup_block<'a>(v: &View<'_>, title: String, danger: bool) -> Block<'a> {
    let (b, t) = if danger { (Slot::Unhealthy, Slot::Unhealthy) } else { (Slot::BorderFocused, Slot::TitleFocused) };
    Block::default()
        .borders(Borders::ALL)
        .border_style(v.style(b))
        .style(v.style(Slot::Popup))
        .title(Span::styled(title, v.style(t)))
}

pub fn popup(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    match &v.state.ui.popup {
        None => {}
        Some(Popup::Confirm(req)) => confirm(f, area, v, req),
        Some(Popup::Picker { target, current, tags, input, selected }) => {
            picker(f, area, v, target, current, tags.as_ref(), input, *selected)
        }
        Some(Popup::Jobs { jobs, selected }) => {
            let rows = jobs.iter().map(|(n, on)| format!("[{}] {n}", if *on { "x" } else { " " })).collect();
            let toggle = v.keymap.key_label(Mode::Picker, Action::PickerToggle);
            list(f, area, v, " run backup jobs ", rows, *selected, &format!("{toggle} checks/unchecks"));
        }
        Some(Popup::Restore { choices, selected }) => {
            let rows = choices.iter().map(|(b, j, w)| format!("{b}  {j}  -> database {w}")).collect();
            list(f, area, v, " RESTORE a verified backup ", rows, *selected, "overwrites the running database");
        }
        Some(Popup::Typed { request, word, input }) => typed(f, area, v, request, word, input),
        Some(Popup::Reason { target, input }) => reason(f, area, v, target, input),
        Some(Popup::Release { targets, input }) => release(f, area, v, targets, input),
        Some(Popup::Pin { target, diff, .. }) => pin(f, area, v, target, diff),
        Some(Popup::Environments { selected }) => super::environments::draw(f, area, v, *selected),
        Some(Popup::Inspect { scroll, view }) => super::inspect::draw(f, area, v, *scroll, view.as_ref()),
    }
}

/// A list to choose from, with the picker's keys in the footer.
fn list(f: &mut Frame<'_>, area: Rect, v: &View<'_>, title: &str, rows: Vec<String>, selected: usize, note: &str) {
    let r = centered(area, 70, (rows.len() as u16 + 3).clamp(5, area.height.saturating_sub(2).max(5)));
    f.render_widget(Clear, r);
    let block = popup_block(v, title.to_owned(), false);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let room = body.height as usize;
    let first = selected.saturating_sub(room.saturating_sub(1));
    let lines: Vec<Line<'_>> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(room)
        .map(|(i, row)| {
            let (mark, st) = if i == selected { ("▶ ", Slot::Selected) } else { ("  ", Slot::Popup) };
            Line::from(Span::styled(fit(&format!("{mark}{row}"), body.width as usize), v.style(st)))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), body);
    let accept = v.keymap.key_label(Mode::Picker, Action::PickerAccept);
    let cancel = v.keymap.key_label(Mode::Picker, Action::PickerCancel);
    let text = fit(&format!("{accept} choose · {cancel} close · {note}"), foot.width as usize);
    f.render_widget(Paragraph::new(Line::from(Span::styled(text, v.style(Slot::Dim)))), foot);
}

/// Starting an emergency-stopped service: the operator says why.
fn reason(f: &mut Frame<'_>, area: Rect, v: &View<'_>, target: &str, input: &str) {
    let (accept, cancel) = picker_keys(v);
    let prompt = Prompt {
        title: format!(" start {target}? "),
        danger: true,
        head: (format!("{target} is EMERGENCY-STOPPED."), Slot::Unhealthy),
        body: format!(
            "Starting it clears the stop. Why may it run again? {accept} starts it; {cancel} keeps it stopped."
        ),
        label: "reason> ",
        height: 8,
    };
    text_prompt(f, area, v, &prompt, input);
}

/// The accept and cancel keys of a prompt, as labels.
fn picker_keys(v: &View<'_>) -> (String, String) {
    (v.keymap.key_label(Mode::Picker, Action::PickerAccept), v.keymap.key_label(Mode::Picker, Action::PickerCancel))
}

/// A popup that takes a line of text: a heading, what it does, and the input with its label.
struct Prompt {
    title: String,
    danger: bool,
    head: (String, Slot),
    body: String,
    label: &'static str,
    height: u16,
}

fn text_prompt(f: &mut Frame<'_>, area: Rect, v: &View<'_>, p: &Prompt, input: &str) {
    let r = centered(area, 70, p.height);
    f.render_widget(Clear, r);
    let block = popup_block(v, p.title.clone(), p.danger);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let lines = vec![
        Line::from(Span::styled(p.head.0.clone(), v.style(p.head.1))),
        Line::from(Span::styled(p.body.clone(), v.style(Slot::Popup))),
        Line::from(""),
        Line::from(vec![
            Span::styled(p.label, v.style(Slot::HintKey)),
            Span::styled(format!("{input}█"), v.style(Slot::Popup)),
        ]),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

/// A pin's diff of the `.env`, to confirm.
fn pin(f: &mut Frame<'_>, area: Rect, v: &View<'_>, target: &str, diff: &[String]) {
    let yes = v.keymap.key_label(Mode::Confirm, Action::Confirm);
    let no = v.keymap.key_label(Mode::Confirm, Action::Deny);
    let width = area.width.saturating_sub(2).min(76);
    let shown = diff.len().min(usize::from(area.height.saturating_sub(8)).max(1));
    let r = centered(area, width, shown as u16 + 5);
    f.render_widget(Clear, r);
    let block = popup_block(v, format!(" pin {target}? "), false);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let room = inner.width as usize;
    let mut lines = vec![Line::from(Span::styled(
        fit("Writes the project's .env (atomically; recorded), so docker-compose up -d keeps what runs:", room),
        v.style(Slot::Popup),
    ))];
    lines.extend(diff.iter().take(shown).map(|l| {
        let slot = match l.chars().next() {
            Some('-') => Slot::Unhealthy,
            Some('+') => Slot::Healthy,
            _ => Slot::Dim,
        };
        Line::from(Span::styled(fit(l, room), v.style(slot)))
    }));
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled(format!(" {yes} "), v.style(Slot::HintKey)),
        Span::styled(" write it   ", v.style(Slot::Popup)),
        Span::styled(format!(" {no} "), v.style(Slot::HintKey)),
        Span::styled(" do nothing", v.style(Slot::Popup)),
    ]));
    f.render_widget(Paragraph::new(lines), inner);
}

/// The tag for a release of the marked services.
fn release(f: &mut Frame<'_>, area: Rect, v: &View<'_>, targets: &[String], input: &str) {
    let (accept, cancel) = picker_keys(v);
    let prompt = Prompt {
        title: format!(" release of {} services ", targets.len()),
        danger: false,
        head: (targets.join(", "), Slot::Title),
        body: format!(
            "One tag for all (each keeps its repository), dependencies first, each gated; one failure moves the others back. {accept} goes on; {cancel} does nothing."
        ),
        label: "tag> ",
        height: 9,
    };
    text_prompt(f, area, v, &prompt, input);
}

/// A confirmation that needs a word typed (a restore: the database's name).
fn typed(f: &mut Frame<'_>, area: Rect, v: &View<'_>, req: &OpRequest, word: &str, input: &str) {
    let (accept, cancel) = picker_keys(v);
    let title = match v.state.environment.as_ref().filter(|e| e.is_production()) {
        Some(e) => format!("{} in PRODUCTION ({})", req.title(), crate::logtext::inert(&e.name)),
        None => req.title(),
    };
    let word = crate::logtext::inert(word);
    let prompt = Prompt {
        title: format!(" {}? ", req.title()),
        danger: true,
        head: (title, Slot::Unhealthy),
        body: format!("Type {word} and press {accept} to go ahead; {cancel} does nothing."),
        label: "> ",
        height: 8,
    };
    text_prompt(f, area, v, &prompt, input);
}

fn confirm(f: &mut Frame<'_>, area: Rect, v: &View<'_>, req: &OpRequest) {
    let danger = matches!(req, OpRequest::Stop { .. });
    let yes =
        v.keymap.keys(Mode::Confirm, Action::Confirm).iter().map(ToString::to_string).collect::<Vec<_>>().join("/");
    let no = v.keymap.keys(Mode::Confirm, Action::Deny).iter().map(ToString::to_string).collect::<Vec<_>>().join("/");
    let stop_detail;
    let detail = match req {
        OpRequest::Stop { targets, .. } => {
            stop_detail = stop_text(v, targets);
            stop_detail.as_str()
        }
        OpRequest::Start { .. } => "Starts the service and restores its previous restart policy.",
        OpRequest::Deploy { stop_first: true, .. } => {
            "START-FIRST IS NOT POSSIBLE for this service (the notice says why). Deploy stop-first instead: the service is DOWN while the new container starts; rolled back automatically if unhealthy."
        }
        // On a swarm manager a deploy is a service update.
        OpRequest::Deploy { .. } if v.state.on_swarm_manager() => {
            "A Swarm service update with the service's own update_config; every task of the new image must run and pass the gate, else Swarm's rollback puts the old image back."
        }
        OpRequest::Deploy { .. } => {
            "Replaces the container (start-first or stop-first, as its compose file and the config say), gates its health; rolls back automatically if unhealthy."
        }
        OpRequest::Rollback { .. } => "Redeploys the last image that passed a health gate, through the same gate.",
        OpRequest::Release { .. } => {
            "Deploys each service to this tag (its own repository), dependencies first, each with its own strategy and gate. If one fails, those already moved go back, in reverse order."
        }
        OpRequest::UndoRelease { .. } => {
            "Puts every service the release moved back on the image it ran before, in reverse order, each through its gate."
        }
        OpRequest::Backup { .. } => {
            "Runs the backup jobs, verifies each (a PostgreSQL dump is restored into a scratch database), applies retention."
        }
        OpRequest::Restore { .. } => "Overwrites the running database with the backup's dump.",
        OpRequest::Hold { .. } => "Stops the container again: the service is emergency-stopped.",
        OpRequest::Recover { .. } => {
            "Removes the replacement that never passed a gate, puts the previous container back under its name and gates it."
        }
        OpRequest::Exec { .. } => {
            "Hands the terminal to a shell in the running container (audited); exit returns to the panel."
        }
        OpRequest::Pin { .. } => {
            "Writes this line to the compose project's .env (atomically; recorded), so docker-compose up -d keeps what runs now."
        }
    };
    // As tall as its text needs (a stop of several services has a long title); the keys have a
    // row of their own at the bottom, so they are on screen whatever the text does.
    let width = area.width.saturating_sub(2).min(76);
    let text_w = width.saturating_sub(2) as usize;
    let title_slot = v.style(if danger { Slot::Unhealthy } else { Slot::Title });
    let mut rows: Vec<Line<'_>> =
        word_wrap(&req.title(), text_w).into_iter().map(|l| Line::from(Span::styled(l, title_slot))).collect();
    rows.extend(word_wrap(detail, text_w).into_iter().map(|l| Line::from(Span::styled(l, v.style(Slot::Popup)))));
    let r = centered(area, width, rows.len() as u16 + 4);
    f.render_widget(Clear, r);
    let block = popup_block(v, format!(" {}? ", req.title()), danger);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [body, keys] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    f.render_widget(Paragraph::new(rows), body);
    let keys_line = Line::from(vec![
        Span::styled(format!(" {yes} "), v.style(Slot::HintKey)),
        Span::styled(" go ahead   ", v.style(Slot::Popup)),
        Span::styled(format!(" {no} "), v.style(Slot::HintKey)),
        Span::styled(" do nothing", v.style(Slot::Popup)),
    ]);
    f.render_widget(Paragraph::new(keys_line), keys);
}

/// `s` in rows of at most `w` display columns, broken between words (a word longer than a row
/// is cut).
fn word_wrap(s: &str, w: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let w = w.max(1);
    let mut rows: Vec<String> = vec![String::new()];
    for word in s.split(' ') {
        let last = rows.last_mut().expect("one row");
        let need = if last.is_empty() { word.width() } else { last.width() + 1 + word.width() };
        if need <= w || last.is_empty() {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        } else {
            rows.push(word.to_owned());
        }
    }
    rows.into_iter().flat_map(|r| if r.width() > w { wrap(&r, w) } else { vec![r] }).collect()
}

#[allow(clippy::too_many_arguments)]
fn picker(
    f: &mut Frame<'_>,
    area: Rect,
    v: &View<'_>,
    target: &str,
    current: &str,
    tags: Option<&Result<Vec<String>, String>>,
    input: &str,
    selected: usize,
) {
    let r = centered(area, 64, area.height.saturating_sub(4).clamp(8, 18));
    f.render_widget(Clear, r);
    let block = popup_block(v, format!(" deploy to {target} "), false);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("running: ", v.style(Slot::Dim)),
            Span::styled(current.to_owned(), v.style(Slot::Popup)),
        ]),
        Line::from(vec![
            Span::styled("image:   ", v.style(Slot::HintKey)),
            Span::styled(format!("{input}█"), v.style(Slot::Popup)),
        ]),
        Line::from(Span::styled(
            "local tags, newest first (type to filter or to enter another reference):",
            v.style(Slot::Dim),
        )),
    ];
    match tags {
        None => lines.push(Line::from(Span::styled("  loading…", v.style(Slot::Dim)))),
        Some(Err(e)) => {
            lines.push(Line::from(Span::styled(format!("  cannot list tags: {e}"), v.style(Slot::Unhealthy))))
        }
        Some(Ok(t)) => {
            let choices = crate::update::picker_choices(t, input);
            if choices.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!("  no local tag matches: enter deploys {input:?} as typed"),
                    v.style(Slot::Dim),
                )));
            }
            let room = inner.height.saturating_sub(4) as usize;
            let first = selected.saturating_sub(room.saturating_sub(1));
            for (i, c) in choices.iter().enumerate().skip(first).take(room) {
                let mark = if i == selected { "▶ " } else { "  " };
                let st = if i == selected { v.style(Slot::Selected) } else { v.style(Slot::Popup) };
                let note = if *c == current { "  (running)" } else { "" };
                lines.push(Line::from(Span::styled(format!("{mark}{c}{note}"), st)));
            }
        }
    }
    let accept = v.keymap.key_label(Mode::Picker, Action::PickerAccept);
    let cancel = v.keymap.key_label(Mode::Picker, Action::PickerCancel);
    let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    f.render_widget(Paragraph::new(lines), body);
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(format!("{accept} choose · {cancel} close"), v.style(Slot::Dim)))),
        foot,
    );
}

/// `s` cut into rows of at most `w` display columns.
fn wrap(s: &str, w: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthChar;
    let w = w.max(1);
    let mut rows = vec![String::new()];
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw > w {
            rows.push(String::new());
            used = 0;
        }
        rows.last_mut().expect("one row").push(c);
        used += cw;
    }
    rows
}

/// The newest operation's progress (until dismissed), over the lower part of the screen.
pub fn op_popup(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let Some(op) = v.state.op_shown() else { return };
    let width = area.width.saturating_sub(4).min(100);
    let wrapped: usize = op.lines.iter().map(|l| wrap(l, width.saturating_sub(2) as usize).len()).sum();
    let h = (wrapped as u16 + 4).clamp(6, area.height.saturating_sub(2).max(6));
    let r = centered(area, width, h);
    f.render_widget(Clear, r);
    let (status, slot) = match &op.done {
        None => ("running".to_owned(), Slot::Starting),
        Some(Ok(_)) => ("done".to_owned(), Slot::Healthy),
        Some(Err(_)) => ("FAILED".to_owned(), Slot::Unhealthy),
    };
    let block = popup_block(v, format!(" {} [{status}] ", op.title), op.done.as_ref().is_some_and(Result::is_err))
        .border_style(v.style(slot));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let room = inner.height.saturating_sub(1) as usize;
    // Long lines (an engine's error, a warning) are wrapped, never cut: the newest rows show.
    let rows: Vec<String> = op.lines.iter().flat_map(|l| wrap(l, inner.width as usize)).collect();
    let mut lines: Vec<Line<'_>> = rows
        .iter()
        .skip(rows.len().saturating_sub(room))
        .map(|l| Line::from(Span::styled(l.clone(), v.style(Slot::Popup))))
        .collect();
    let foot = match &op.done {
        None if op.cancellable => {
            let k = v.keymap.key_label(Mode::Global, Action::CancelOperation);
            if v.state.on_swarm_manager() {
                format!("{k} cancels (until the gate passes)")
            } else {
                format!("{k} cancels (until the old container is removed)")
            }
        }
        None => "running…".to_owned(),
        Some(Ok(s)) => format!("✓ {s}   ({} closes)", v.keymap.key_label(Mode::Global, Action::Cancel)),
        Some(Err(e)) => format!("✗ {e}   ({} closes)", v.keymap.key_label(Mode::Global, Action::Cancel)),
    };
    lines.truncate(room);
    let [body, footer] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    f.render_widget(Paragraph::new(lines), body);
    f.render_widget(Paragraph::new(Line::from(Span::styled(fit(&foot, footer.width as usize), v.style(slot)))), footer);
}

/// What a stop will do, per the targets' halt hooks: the hook first (and its limit), or the
/// plain truth that only the process is stopped.
fn stop_text(v: &View<'_>, targets: &[String]) -> String {
    use crate::config::stack::HaltAction;
    let mut hooks = Vec::new();
    let mut without = Vec::new();
    for t in targets {
        match v.stack.settings(&crate::domain::ServiceKey::parse(t)).halt {
            Some(h) => {
                let what = match h.action {
                    HaltAction::Http { method, url, .. } => format!("{method} {}", crate::http::shown(&url)),
                    HaltAction::Exec(cmd) => format!("`{}` in the container", cmd.join(" ")),
                };
                hooks.push(format!("{t}: {what} (at most {} s)", h.timeout.as_secs()));
            }
            None => without.push(t.as_str()),
        }
    }
    let mut text = String::new();
    if !hooks.is_empty() {
        text.push_str(&format!("First the halt hook, the answer is recorded: {}. ", hooks.join("; ")));
    }
    text.push_str("Then the stop signal, grace period, SIGKILL; restart policy \"no\" until started again.");
    if !without.is_empty() {
        text.push_str(&format!(
            " {}: process stopped only; open orders and positions are unknown to stackdeck: check the exchange.",
            without.join(", ")
        ));
    }
    text
}
