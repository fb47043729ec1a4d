//! Key bindings: a closed set of actions, keys as data, user overrides merged over the
//! embedded defaults, and validation that names file, line and column.

use super::error::ConfigError;
use crate::domain::Pane;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::fmt;
use toml::de::{DeTable, DeValue};

/// The shipped defaults (the repo's top-level keybindings.toml).
pub const DEFAULT_KEYBINDINGS: &str = include_str!("../../keybindings.toml");
const DEFAULT_NAME: &str = "<built-in keybindings.toml>";

/// Where a set of keys is active: everywhere, in one pane (the pane's keys first, then the
/// global ones), or inside a prompt or popup (only its own keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Global,
    Pane(Pane),
    Search,
    Confirm,
    Picker,
}

impl Mode {
    pub const ALL: [Mode; 11] = [
        Mode::Global,
        Mode::Pane(Pane::Services),
        Mode::Pane(Pane::Logs),
        Mode::Pane(Pane::Metrics),
        Mode::Pane(Pane::History),
        Mode::Pane(Pane::Charts),
        Mode::Pane(Pane::Alerts),
        Mode::Pane(Pane::Timeline),
        Mode::Search,
        Mode::Confirm,
        Mode::Picker,
    ];

    /// The table's name in keybindings.toml.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Global => "global",
            Mode::Pane(p) => p.name(),
            Mode::Search => "search",
            Mode::Confirm => "confirm",
            Mode::Picker => "picker",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Does the global table apply while this mode is active?
    fn includes_global(self) -> bool {
        matches!(self, Mode::Pane(_))
    }
}

/// The names the action table below uses for the modes.
#[allow(non_upper_case_globals)]
mod m {
    use super::{Mode, Pane};
    pub const Global: Mode = Mode::Global;
    pub const Services: Mode = Mode::Pane(Pane::Services);
    pub const Logs: Mode = Mode::Pane(Pane::Logs);
    pub const Metrics: Mode = Mode::Pane(Pane::Metrics);
    pub const History: Mode = Mode::Pane(Pane::History);
    pub const Charts: Mode = Mode::Pane(Pane::Charts);
    pub const Alerts: Mode = Mode::Pane(Pane::Alerts);
    pub const Timeline: Mode = Mode::Pane(Pane::Timeline);
    pub const Search: Mode = Mode::Search;
    pub const Confirm: Mode = Mode::Confirm;
    pub const Picker: Mode = Mode::Picker;
}

macro_rules! actions {
    ($( $variant:ident = $name:literal, $help:literal, [$($mode:ident),+] );+ $(;)?) => {
        /// Everything a key can do. Users write these names in keybindings.toml.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant),+ }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];
            pub fn name(self) -> &'static str { match self { $(Action::$variant => $name),+ } }
            /// One line for the help popup.
            pub fn help(self) -> &'static str { match self { $(Action::$variant => $help),+ } }
            /// The tables this action may appear in.
            pub fn modes(self) -> &'static [Mode] { match self { $(Action::$variant => &[$(m::$mode),+]),+ } }
        }
    };
}

actions! {
    Quit = "quit", "quit stackdeck", [Global];
    Help = "help", "show or hide this help", [Global];
    Cancel = "cancel", "close a popup, clear the search", [Global];
    FocusNext = "focus_next", "focus the next pane", [Global];
    FocusPrev = "focus_prev", "focus the previous pane", [Global];
    FocusServices = "focus_services", "focus the services pane", [Global];
    FocusLogs = "focus_logs", "focus the logs pane", [Global];
    FocusMetrics = "focus_metrics", "focus the metrics pane", [Global];
    FocusHistory = "focus_history", "focus the history pane", [Global];
    FocusCharts = "focus_charts", "focus the charts pane", [Global];
    FocusAlerts = "focus_alerts", "focus the alerts pane", [Global];
    FocusTimeline = "focus_timeline", "focus the timeline pane (what happened, in time order)", [Global];
    CycleWindow = "cycle_window", "chart and availability window: 5m, 1h, 24h", [Charts, Alerts];
    TogglePanelLog = "toggle_panel_log", "show or hide stackdeck's own log", [Global];
    EmergencyStop = "emergency_stop", "EMERGENCY STOP the kill-switch service(s)", [Global];
    Environments = "environments", "switch environment (each one's summary side by side)", [Global];
    CancelOperation = "cancel_operation", "cancel the running deploy/rollback", [Global];
    Backup = "backup", "choose backup jobs and run them now", [Global];
    Restore = "restore", "restore a verified backup into its running database", [History];
    StartService = "start_service", "start the selected (stopped) service", [Services];
    Deploy = "deploy", "deploy an image to the selected service", [Services];
    Rollback = "rollback", "roll back to the last image that passed a gate", [Services];
    Recover = "recover", "after an interrupted deploy: put the previous container back", [Services];
    Inspect = "inspect", "inspect the selected container (env masked, mounts, ports, health)", [Services];
    Exec = "exec", "open a shell in the selected container (exit returns here)", [Services];
    Pin = "pin", "pin the running tag in the compose project's .env (the diff shown, confirmed)", [Services];
    Mark = "mark", "mark/unmark the selected service for a release (then deploy: all marked, one tag)", [Services];
    Confirm = "confirm", "go ahead", [Confirm];
    Deny = "deny", "do nothing", [Confirm];
    PickerNext = "picker_next", "next image", [Picker];
    PickerPrev = "picker_prev", "previous image", [Picker];
    PickerAccept = "picker_accept", "deploy the chosen image", [Picker];
    PickerCancel = "picker_cancel", "close the picker", [Picker];
    PickerErase = "picker_erase", "delete the last character", [Picker];
    PickerToggle = "picker_toggle", "check or uncheck the backup job", [Picker];
    SelectNext = "select_next", "select the next row (service, chart panel, timeline row)", [Services, Metrics, Charts, Timeline];
    SelectPrev = "select_prev", "select the previous row (service, chart panel, timeline row)", [Services, Metrics, Charts, Timeline];
    SelectFirst = "select_first", "select the first row (the newest in the timeline)", [Services, Timeline];
    SelectLast = "select_last", "select the last row (the oldest in the timeline)", [Services, Timeline];
    FilterKind = "filter_kind", "timeline: every row, or only engine events, operations, alerts or latches", [Timeline];
    FilterService = "filter_service", "timeline: only the service selected in Services, or every service", [Timeline];
    JumpToLogs = "jump_to_logs", "the merged logs at the selected row's moment", [Timeline];
    OpenLogs = "open_logs", "show the selected service's logs", [Services];
    ScrollUp = "scroll_up", "scroll up one line", [Logs, History, Alerts];
    ScrollDown = "scroll_down", "scroll down one line", [Logs, History, Alerts];
    PageUp = "page_up", "scroll up one page", [Logs];
    PageDown = "page_down", "scroll down one page", [Logs];
    ScrollTop = "scroll_top", "jump to the oldest line kept", [Logs];
    Follow = "follow", "jump to the newest line and follow", [Logs];
    TogglePause = "toggle_pause", "pause or resume following", [Logs];
    Search = "search", "search the logs (@03:12 jumps to that time)", [Logs];
    SearchNext = "search_next", "next match", [Logs];
    SearchPrev = "search_prev", "previous match", [Logs];
    ToggleFilter = "toggle_filter", "show only matching lines", [Logs];
    ToggleWrap = "toggle_wrap", "wrap long lines", [Logs];
    ToggleTimestamps = "toggle_timestamps", "show engine timestamps", [Logs];
    ToggleMerged = "merged", "merged logs: every service of the selected one's project in time order (the marked services when some are)", [Logs];
    Export = "export", "write what is loaded (lines, timeline rows) to a file in the state dir (masked, 0600, plain text)", [Logs, Timeline];
    ExportJson = "export_json", "write what is loaded (lines, timeline rows) to a file in the state dir as JSON lines", [Logs, Timeline];
    SearchConfirm = "search_confirm", "run the search", [Search];
    SearchCancel = "search_cancel", "abandon the search", [Search];
    SearchErase = "search_erase", "delete the last character", [Search];
}

impl Action {
    /// Actions that change the stack: confirmed first, and gone under --read-only.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Action::EmergencyStop
                | Action::CancelOperation
                | Action::Backup
                | Action::Restore
                | Action::Recover
                | Action::StartService
                | Action::Deploy
                | Action::Rollback
                | Action::Exec
                | Action::Mark
                | Action::Pin
        )
    }

    fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == s)
    }
}

/// One key with its modifiers, normalised so that `X` and `shift-x` are the same chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyChord {
    pub fn from_event(ev: &KeyEvent) -> KeyChord {
        normalise(ev.code, ev.modifiers)
    }

    /// Parse the names used in keybindings.toml.
    pub fn parse(s: &str) -> Result<KeyChord, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, n) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            if rest.len() == n {
                break;
            }
            mods |= m;
            rest = &rest[n..];
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "space" => KeyCode::Char(' '),
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].chars().all(|c| c.is_ascii_digit()) => {
                let n: u8 = f[1..].parse().map_err(|_| format!("unknown key '{s}'"))?;
                if !(1..=12).contains(&n) {
                    return Err(format!("unknown key '{s}' (function keys are f1 to f12)"));
                }
                KeyCode::F(n)
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => KeyCode::Char(c),
                    _ => return Err(format!("unknown key '{s}'")),
                }
            }
        };
        Ok(normalise(code, mods))
    }
}

fn normalise(code: KeyCode, mods: KeyModifiers) -> KeyChord {
    let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
    let code = match code {
        KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
            mods.remove(KeyModifiers::SHIFT);
            KeyCode::Char(c.to_ascii_uppercase())
        }
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
        KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
            mods.remove(KeyModifiers::SHIFT);
            KeyCode::BackTab
        }
        KeyCode::BackTab => {
            mods.remove(KeyModifiers::SHIFT);
            KeyCode::BackTab
        }
        c => c,
    };
    KeyChord { code, mods }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pageup"),
            KeyCode::PageDown => f.write_str("pagedown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Where a binding was written, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    file: String,
    span: std::ops::Range<usize>,
    text_idx: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    chords: Vec<(KeyChord, Origin)>,
}

/// The live keymap: what each key does in each mode.
#[derive(Debug, Clone)]
pub struct Keymap {
    table: BTreeMap<Mode, BTreeMap<Action, Vec<KeyChord>>>,
}

impl Keymap {
    /// The embedded defaults alone.
    pub fn defaults() -> Keymap {
        Keymap::load(None).expect("the shipped keybindings.toml is valid (tested)")
    }

    /// Defaults merged with an optional user file `(display name, contents)`.
    pub fn load(user: Option<(&str, &str)>) -> Result<Keymap, ConfigError> {
        let texts: Vec<(&str, &str)> = std::iter::once((DEFAULT_NAME, DEFAULT_KEYBINDINGS)).chain(user).collect();
        let mut merged: BTreeMap<Mode, BTreeMap<Action, Entry>> = BTreeMap::new();
        for (idx, (file, text)) in texts.iter().enumerate() {
            parse_into(&mut merged, file, text, idx)?;
        }
        check_conflicts(&merged, &texts)?;
        let table = merged
            .into_iter()
            .map(|(m, acts)| {
                let acts = acts.into_iter().map(|(a, e)| (a, e.chords.into_iter().map(|(c, _)| c).collect())).collect();
                (m, acts)
            })
            .collect();
        Ok(Keymap { table })
    }

    /// The action a key triggers in `mode` (the mode's own keys first, then the global ones).
    pub fn action(&self, mode: Mode, key: &KeyEvent) -> Option<Action> {
        let chord = KeyChord::from_event(key);
        let find = |m: Mode| {
            self.table.get(&m).and_then(|acts| acts.iter().find(|(_, ks)| ks.contains(&chord)).map(|(a, _)| *a))
        };
        find(mode).or_else(|| if mode.includes_global() { find(Mode::Global) } else { None })
    }

    /// The keys bound to an action in a mode, e.g. `["q", "ctrl-c"]`.
    pub fn keys(&self, mode: Mode, action: Action) -> &[KeyChord] {
        self.table.get(&mode).and_then(|a| a.get(&action)).map_or(&[], Vec::as_slice)
    }

    /// The first key of an action as text, for hints ("" when unbound).
    pub fn key_label(&self, mode: Mode, action: Action) -> String {
        self.keys(mode, action).first().map(ToString::to_string).unwrap_or_default()
    }

    /// Every binding, grouped by mode, for the help popup and the README table.
    pub fn all(&self) -> impl Iterator<Item = (Mode, Action, &[KeyChord])> {
        self.table.iter().flat_map(|(m, acts)| acts.iter().map(move |(a, ks)| (*m, *a, ks.as_slice())))
    }
}

fn parse_into(
    merged: &mut BTreeMap<Mode, BTreeMap<Action, Entry>>,
    file: &str,
    text: &str,
    text_idx: usize,
) -> Result<(), ConfigError> {
    let doc = DeTable::parse(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    let modes_list = Mode::ALL.map(Mode::name).join(", ");
    for (mode_key, mode_val) in doc.get_ref() {
        let Some(mode) = Mode::parse(mode_key.get_ref()) else {
            return Err(ConfigError::at(
                file,
                text,
                Some(mode_key.span()),
                format!("unknown table [{}]", mode_key.get_ref()),
                format!("use one of: {modes_list}"),
            ));
        };
        let DeValue::Table(actions) = mode_val.get_ref() else {
            return Err(ConfigError::at(
                file,
                text,
                Some(mode_val.span()),
                format!("'{}' must be a table of action = keys", mode.name()),
                format!("write it as [{}] followed by lines like quit = \"q\"", mode.name()),
            ));
        };
        for (act_key, keys_val) in actions {
            let name = act_key.get_ref();
            let action = Action::parse(name).filter(|a| a.modes().contains(&mode)).ok_or_else(|| {
                let valid: Vec<&str> =
                    Action::ALL.iter().filter(|a| a.modes().contains(&mode)).map(|a| a.name()).collect();
                let elsewhere = Action::parse(name).map(|a| {
                    format!(
                        " ('{}' belongs in [{}])",
                        a.name(),
                        a.modes().iter().map(|m| m.name()).collect::<Vec<_>>().join("], [")
                    )
                });
                ConfigError::at(
                    file,
                    text,
                    Some(act_key.span()),
                    format!("unknown action '{name}' in [{}]{}", mode.name(), elsewhere.unwrap_or_default()),
                    format!("actions in [{}] are: {}", mode.name(), valid.join(", ")),
                )
            })?;
            let mut raw: Vec<(String, std::ops::Range<usize>)> = Vec::new();
            match keys_val.get_ref() {
                DeValue::String(s) => raw.push((s.to_string(), keys_val.span())),
                DeValue::Array(arr) => {
                    for item in arr.iter() {
                        match item.get_ref() {
                            DeValue::String(s) => raw.push((s.to_string(), item.span())),
                            _ => {
                                return Err(ConfigError::at(
                                    file,
                                    text,
                                    Some(item.span()),
                                    format!("keys for '{name}' must be strings"),
                                    "write keys in quotes, e.g. [\"q\", \"ctrl-c\"]",
                                ));
                            }
                        }
                    }
                }
                _ => {
                    return Err(ConfigError::at(
                        file,
                        text,
                        Some(keys_val.span()),
                        format!("'{name}' must be a key or a list of keys"),
                        "write e.g. quit = \"q\" or quit = [\"q\", \"ctrl-c\"] (an empty list unbinds)",
                    ));
                }
            }
            let mut chords = Vec::new();
            for (s, span) in raw {
                let chord = KeyChord::parse(&s).map_err(|msg| {
                    ConfigError::at(
                        file,
                        text,
                        Some(span.clone()),
                        msg,
                        "use a single character or a key name: space, tab, backtab, enter, esc, backspace, delete, up, down, left, right, home, end, pageup, pagedown, f1-f12, with optional ctrl-/alt-/shift- prefixes",
                    )
                })?;
                chords.push((chord, Origin { file: file.to_owned(), span, text_idx }));
            }
            merged.entry(mode).or_default().insert(action, Entry { chords });
        }
    }
    Ok(())
}

fn check_conflicts(
    merged: &BTreeMap<Mode, BTreeMap<Action, Entry>>,
    texts: &[(&str, &str)],
) -> Result<(), ConfigError> {
    let empty = BTreeMap::new();
    for mode in Mode::ALL {
        let mut tables = vec![(mode, merged.get(&mode).unwrap_or(&empty))];
        if mode.includes_global() {
            tables.push((Mode::Global, merged.get(&Mode::Global).unwrap_or(&empty)));
        }
        let mut seen: Vec<(KeyChord, Mode, Action, &Origin)> = Vec::new();
        for (m, acts) in tables {
            for (action, entry) in acts {
                for (chord, origin) in &entry.chords {
                    if let Some((_, m0, a0, o0)) = seen.iter().find(|(c, ..)| c == chord) {
                        if *a0 == *action && *m0 == m {
                            continue; // the same key listed twice for one action: harmless
                        }
                        // Point at whichever binding came from the later file (the user's).
                        let (at, other, other_mode, other_action) = if origin.text_idx >= o0.text_idx {
                            (origin, *o0, *m0, *a0)
                        } else {
                            (*o0, origin, m, *action)
                        };
                        let text = texts[at.text_idx].1;
                        let (ol, oc) = super::error::line_col(texts[other.text_idx].1, other.span.start);
                        return Err(ConfigError::at(
                            &at.file,
                            text,
                            Some(at.span.clone()),
                            format!(
                                "key '{chord}' is bound to both '{}' and '{}' (in [{}], active together with [{}]; the other binding is at {}:{ol}:{oc})",
                                if at == origin { action.name() } else { a0.name() },
                                if at == origin { other_action.name() } else { action.name() },
                                mode.name(),
                                other_mode.name(),
                                other.file,
                            ),
                            "bind one of the two actions to another key, or unbind it with an empty list",
                        ));
                    }
                    seen.push((*chord, m, *action, origin));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
