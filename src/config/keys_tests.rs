//! Tests of the keymap: parsing, merging, conflicts and their errors.
use super::*;
use crossterm::event::KeyEventKind;

fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent { code, modifiers: mods, kind: KeyEventKind::Press, state: crossterm::event::KeyEventState::NONE }
}

#[test]
fn shipped_defaults_are_valid_and_cover_every_action() {
    let km = Keymap::defaults();
    for a in Action::ALL {
        let bound = a.modes().iter().any(|m| !km.keys(*m, *a).is_empty());
        assert!(bound, "action {} has no default key", a.name());
    }
}

#[test]
fn lookup_pane_then_global() {
    let km = Keymap::defaults();
    assert_eq!(km.action(Mode::Pane(Pane::Logs), &ev(KeyCode::Char('/'), KeyModifiers::NONE)), Some(Action::Search));
    assert_eq!(km.action(Mode::Pane(Pane::Logs), &ev(KeyCode::Char('q'), KeyModifiers::NONE)), Some(Action::Quit));
    assert_eq!(km.action(Mode::Search, &ev(KeyCode::Char('q'), KeyModifiers::NONE)), None);
    assert_eq!(
        km.action(Mode::Pane(Pane::Services), &ev(KeyCode::Char('L'), KeyModifiers::SHIFT)),
        Some(Action::TogglePanelLog)
    );
    assert_eq!(
        km.action(Mode::Pane(Pane::Services), &ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
    assert_eq!(
        km.action(Mode::Pane(Pane::Services), &ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
        Some(Action::FocusPrev)
    );
}

#[test]
fn chord_parse_and_display_round_trip() {
    for s in ["q", "X", "ctrl-c", "alt-j", "tab", "backtab", "enter", "esc", "space", "pageup", "f5", "?", "/"] {
        assert_eq!(KeyChord::parse(s).unwrap().to_string(), s);
    }
    assert_eq!(KeyChord::parse("shift-x").unwrap(), KeyChord::parse("X").unwrap());
    assert!(KeyChord::parse("f13").is_err());
    assert!(KeyChord::parse("hyper-q").is_err());
}

#[test]
fn user_override_replaces_only_that_action() {
    let km = Keymap::load(Some(("mine.toml", "[logs]\nsearch = \"s\"\n"))).unwrap();
    assert_eq!(km.keys(Mode::Pane(Pane::Logs), Action::Search), &[KeyChord::parse("s").unwrap()]);
    assert_eq!(km.keys(Mode::Pane(Pane::Logs), Action::SearchNext), &[KeyChord::parse("n").unwrap()]);
}

#[test]
fn empty_list_unbinds() {
    let km = Keymap::load(Some(("mine.toml", "[global]\ntoggle_panel_log = []\n"))).unwrap();
    assert!(km.keys(Mode::Global, Action::TogglePanelLog).is_empty());
}

#[test]
fn unknown_action_names_line_column_and_fix() {
    let e = Keymap::load(Some(("mine.toml", "[logs]\n\nserch = \"s\"\n"))).unwrap_err();
    assert_eq!(e.file, "mine.toml");
    assert_eq!(e.position, Some((3, 1)));
    assert!(e.message.contains("unknown action 'serch'"), "{e}");
    assert!(e.fix.contains("search"), "{e}");
}

#[test]
fn action_in_wrong_table_says_where_it_belongs() {
    let e = Keymap::load(Some(("mine.toml", "[services]\nsearch = \"s\"\n"))).unwrap_err();
    assert!(e.message.contains("belongs in [logs]"), "{e}");
}

#[test]
fn unknown_key_name() {
    let e = Keymap::load(Some(("mine.toml", "[global]\nquit = [\"q\", \"ctrl-qq\"]\n"))).unwrap_err();
    assert_eq!(e.position, Some((2, 14)));
    assert!(e.message.contains("unknown key 'ctrl-qq'"), "{e}");
}

#[test]
fn clash_with_global_is_refused_at_the_user_line() {
    let e = Keymap::load(Some(("mine.toml", "[logs]\ntoggle_wrap = \"q\"\n"))).unwrap_err();
    assert_eq!(e.file, "mine.toml");
    assert_eq!(e.position, Some((2, 15)));
    assert!(e.message.contains("'q'") && e.message.contains("quit") && e.message.contains("toggle_wrap"), "{e}");
}

#[test]
fn clash_in_one_table() {
    let e = Keymap::load(Some(("mine.toml", "[services]\nselect_next = \"x\"\nselect_prev = \"x\"\n"))).unwrap_err();
    assert_eq!(e.position.map(|p| p.0), Some(3));
}

#[test]
fn same_key_in_different_panes_is_fine() {
    // 'j' is select_next in services and scroll_down in logs: never active together.
    assert!(Keymap::load(None).is_ok());
}

#[test]
fn bad_toml_and_unknown_table() {
    let e = Keymap::load(Some(("mine.toml", "[logs\n"))).unwrap_err();
    assert!(e.position.is_some());
    let e = Keymap::load(Some(("mine.toml", "[log]\nsearch = \"s\"\n"))).unwrap_err();
    assert!(e.message.contains("unknown table [log]"), "{e}");
}
