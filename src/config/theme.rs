//! Themes: a palette of named colours and a closed set of semantic slots, as TOML data.
//!
//! Built-in themes live in the repo's `themes/` and are embedded. A theme may `inherits` another
//! (built-in name); its palette entries and slots override the parent's. `NO_COLOR` strips every
//! colour and keeps only modifiers, so states stay readable (symbols carry the meaning too).

use super::error::ConfigError;
use ratatui::style::{Color, Modifier, Style};
use std::collections::BTreeMap;
use toml::de::{DeTable, DeValue};

pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

macro_rules! slots {
    ($($v:ident = $n:literal),+ $(,)?) => {
        /// A semantic place that gets a style. Themes name these in `[styles]`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Slot { $($v),+ }
        impl Slot {
            pub const ALL: &'static [Slot] = &[$(Slot::$v),+];
            pub fn name(self) -> &'static str { match self { $(Slot::$v => $n),+ } }
        }
    };
}

slots! {
    Text = "text", Dim = "dim", Border = "border", BorderFocused = "border_focused",
    Title = "title", TitleFocused = "title_focused", Selected = "selected", Header = "header",
    Project = "project", Healthy = "healthy", Unhealthy = "unhealthy", Starting = "starting",
    Running = "running", Exited = "exited", Restarting = "restarting", Paused = "paused",
    Stale = "stale", StatusBar = "status_bar", StatusOk = "status_ok", StatusError = "status_error",
    HintKey = "hint_key", HintText = "hint_text", Badge = "badge", LogTrace = "log_trace",
    LogDebug = "log_debug", LogInfo = "log_info", LogWarn = "log_warn", LogError = "log_error",
    LogMarker = "log_marker", SearchMatch = "search_match", ChartCpu = "chart_cpu",
    ChartMem = "chart_mem", ChartNetRx = "chart_net_rx", ChartNetTx = "chart_net_tx", Popup = "popup",
    AlertCritical = "alert_critical", AlertWarning = "alert_warning", AlertInfo = "alert_info",
    ValueOk = "value_ok", ValueWarn = "value_warn", ValueCritical = "value_critical", ChartLine = "chart_line",
    Production = "production", ProductionBorder = "production_border",
    Tag1 = "tag_1", Tag2 = "tag_2", Tag3 = "tag_3", Tag4 = "tag_4", Tag5 = "tag_5", Tag6 = "tag_6",
}

impl Slot {
    /// The tag colours of merged logs, one chosen per service by its name.
    pub const TAGS: [Slot; 6] = [Slot::Tag1, Slot::Tag2, Slot::Tag3, Slot::Tag4, Slot::Tag5, Slot::Tag6];
}

/// A resolved theme: one style per slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<Slot, Style>,
}

impl Theme {
    pub fn style(&self, slot: Slot) -> Style {
        self.styles.get(&slot).copied().unwrap_or_default()
    }

    /// The built-in dark theme.
    pub fn builtin_default() -> Theme {
        Theme::load("default", false).expect("built-in themes are valid (tested)")
    }

    /// Load a theme by built-in name or file path. `no_color` strips colours (NO_COLOR).
    pub fn load(name_or_path: &str, no_color: bool) -> Result<Theme, ConfigError> {
        let (file, text) = match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (format!("<built-in theme {n}>"), (*t).to_owned()),
            None => {
                let p = std::path::Path::new(name_or_path);
                if !name_or_path.contains('/') && !name_or_path.ends_with(".toml") {
                    return Err(ConfigError {
                        file: "--theme".into(),
                        position: None,
                        message: format!("no built-in theme named '{name_or_path}'"),
                        fix: format!("use one of {} or a path to a theme file", builtin_names()),
                    });
                }
                let t = std::fs::read_to_string(p).map_err(|e| ConfigError::unreadable(name_or_path, &e))?;
                (name_or_path.to_owned(), t)
            }
        };
        let mut raw = RawTheme::default();
        resolve(&file, &text, &mut raw, 0)?;
        let mut styles = BTreeMap::new();
        for slot in Slot::ALL {
            let mut st = match raw.styles.get(slot) {
                Some(spec) => spec.resolve(&raw.palette)?,
                None => Style::default(),
            };
            if no_color {
                st.fg = None;
                st.bg = None;
                st.underline_color = None;
            }
            styles.insert(*slot, st);
        }
        Ok(Theme { name: raw.name.unwrap_or_else(|| name_or_path.to_owned()), styles })
    }
}

fn builtin_names() -> String {
    BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

#[derive(Default)]
struct RawTheme {
    name: Option<String>,
    /// Palette names -> colour text; resolved at the end so a child's palette recolours the
    /// parent's styles.
    palette: BTreeMap<String, Src>,
    styles: BTreeMap<Slot, StyleSpec>,
}

/// A colour as written, with where it was written.
#[derive(Clone)]
struct Src {
    value: String,
    file: String,
    pos: Option<(usize, usize)>,
}

impl Src {
    fn new(value: &str, file: &str, text: &str, span: std::ops::Range<usize>) -> Src {
        Src { value: value.to_owned(), file: file.to_owned(), pos: Some(super::error::line_col(text, span.start)) }
    }

    fn resolve(&self, palette: &BTreeMap<String, Src>, depth: usize) -> Result<Color, ConfigError> {
        if let Some(p) = palette.get(&self.value)
            && depth < 8
            && p.value != self.value
        {
            return p.resolve(palette, depth + 1);
        }
        parse_colour(&self.value).map_err(|message| ConfigError {
            file: self.file.clone(),
            position: self.pos,
            message,
            fix: COLOUR_FIX.into(),
        })
    }
}

#[derive(Clone, Default)]
struct StyleSpec {
    fg: Option<Src>,
    bg: Option<Src>,
    mods: Modifier,
}

impl StyleSpec {
    fn resolve(&self, palette: &BTreeMap<String, Src>) -> Result<Style, ConfigError> {
        let mut st = Style::default().add_modifier(self.mods);
        if let Some(fg) = &self.fg {
            st.fg = Some(fg.resolve(palette, 0)?);
        }
        if let Some(bg) = &self.bg {
            st.bg = Some(bg.resolve(palette, 0)?);
        }
        Ok(st)
    }
}

fn resolve(file: &str, text: &str, out: &mut RawTheme, depth: usize) -> Result<(), ConfigError> {
    let err = |span, msg: String, fix: String| ConfigError::at(file, text, span, msg, fix);
    let doc = DeTable::parse(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    let doc = doc.get_ref();
    // Parent first, so this file's entries override it.
    if let Some(inh) = doc.get("inherits") {
        let DeValue::String(parent) = inh.get_ref() else {
            return Err(err(
                Some(inh.span()),
                "'inherits' must be a theme name".into(),
                format!("use one of {}", builtin_names()),
            ));
        };
        let Some((pname, ptext)) = BUILTIN.iter().find(|(n, _)| *n == parent.as_ref()) else {
            return Err(err(
                Some(inh.span()),
                format!("unknown theme '{parent}' in 'inherits'"),
                format!("use one of {}", builtin_names()),
            ));
        };
        if depth > 4 {
            return Err(err(
                Some(inh.span()),
                "themes inherit too deeply (a cycle?)".into(),
                "inherit from a built-in theme that does not inherit back".into(),
            ));
        }
        resolve(&format!("<built-in theme {pname}>"), ptext, out, depth + 1)?;
    }
    for (k, v) in doc {
        match k.get_ref().as_ref() {
            "inherits" => {}
            "name" => match v.get_ref() {
                DeValue::String(s) => out.name = Some(s.to_string()),
                _ => {
                    return Err(err(
                        Some(v.span()),
                        "'name' must be a string".into(),
                        "write name = \"my-theme\"".into(),
                    ));
                }
            },
            "palette" => {
                let DeValue::Table(t) = v.get_ref() else {
                    return Err(err(
                        Some(v.span()),
                        "[palette] must be a table".into(),
                        "write [palette] then lines like accent = \"#88c0d0\"".into(),
                    ));
                };
                for (pk, pv) in t {
                    let DeValue::String(s) = pv.get_ref() else {
                        return Err(err(
                            Some(pv.span()),
                            format!("palette colour '{}' must be a string", pk.get_ref()),
                            COLOUR_FIX.into(),
                        ));
                    };
                    let src = Src::new(s, file, text, pv.span());
                    // Check it now, so the error points here even if no style uses it.
                    let mut check = out.palette.clone();
                    check.remove(pk.get_ref().as_ref());
                    src.resolve(&check, 0)?;
                    out.palette.insert(pk.get_ref().to_string(), src);
                }
            }
            "styles" => {
                let DeValue::Table(t) = v.get_ref() else {
                    return Err(err(
                        Some(v.span()),
                        "[styles] must be a table".into(),
                        "write [styles] then lines like healthy = { fg = \"green\" }".into(),
                    ));
                };
                for (sk, sv) in t {
                    let Some(slot) = Slot::ALL.iter().find(|s| s.name() == sk.get_ref().as_ref()) else {
                        let names: Vec<&str> = Slot::ALL.iter().map(|s| s.name()).collect();
                        return Err(err(
                            Some(sk.span()),
                            format!("unknown style slot '{}'", sk.get_ref()),
                            format!("slots are: {}", names.join(", ")),
                        ));
                    };
                    let spec = parse_style(sv, file, text).map_err(|(span, m, fix)| err(Some(span), m, fix))?;
                    // Unknown colour names are reported here, at the line that wrote them.
                    spec.resolve(&out.palette)?;
                    out.styles.insert(*slot, spec);
                }
            }
            other => {
                return Err(err(
                    Some(k.span()),
                    format!("unknown key '{other}' in a theme"),
                    "a theme has: name, inherits, [palette], [styles]".into(),
                ));
            }
        }
    }
    Ok(())
}

const COLOUR_FIX: &str = "use a colour name (black, red, green, yellow, blue, magenta, cyan, gray, darkgray, lightred, lightgreen, lightyellow, lightblue, lightmagenta, lightcyan, white, reset), \"#rrggbb\", a number 0-255, or a [palette] name defined above";

type StyleErr = (std::ops::Range<usize>, String, String);

fn parse_style(v: &toml::Spanned<DeValue<'_>>, file: &str, text: &str) -> Result<StyleSpec, StyleErr> {
    let mut st = StyleSpec::default();
    match v.get_ref() {
        // shorthand: slot = "red" sets the foreground
        DeValue::String(s) => {
            st.fg = Some(Src::new(s, file, text, v.span()));
        }
        DeValue::Table(t) => {
            for (k, fv) in t {
                match k.get_ref().as_ref() {
                    "fg" | "bg" => {
                        let DeValue::String(s) = fv.get_ref() else {
                            return Err((
                                fv.span(),
                                format!("'{}' must be a colour string", k.get_ref()),
                                COLOUR_FIX.into(),
                            ));
                        };
                        let c = Src::new(s, file, text, fv.span());
                        if k.get_ref() == "fg" { st.fg = Some(c) } else { st.bg = Some(c) }
                    }
                    "modifiers" => {
                        let DeValue::Array(arr) = fv.get_ref() else {
                            return Err((fv.span(), "'modifiers' must be a list".into(), MOD_FIX.into()));
                        };
                        for m in arr.iter() {
                            let DeValue::String(s) = m.get_ref() else {
                                return Err((m.span(), "a modifier must be a string".into(), MOD_FIX.into()));
                            };
                            st.mods |= parse_modifier(s)
                                .ok_or_else(|| (m.span(), format!("unknown modifier '{s}'"), MOD_FIX.to_owned()))?;
                        }
                    }
                    other => {
                        return Err((
                            k.span(),
                            format!("unknown style field '{other}'"),
                            "a style has: fg, bg, modifiers".into(),
                        ));
                    }
                }
            }
        }
        _ => {
            return Err((
                v.span(),
                "a style must be a colour string or a table".into(),
                "write e.g. healthy = { fg = \"green\", modifiers = [\"bold\"] }".into(),
            ));
        }
    }
    Ok(st)
}

const MOD_FIX: &str = "modifiers are: bold, dim, italic, underlined, reversed, crossed_out, slow_blink";

fn parse_modifier(s: &str) -> Option<Modifier> {
    Some(match s {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" => Modifier::UNDERLINED,
        "reversed" => Modifier::REVERSED,
        "crossed_out" => Modifier::CROSSED_OUT,
        "slow_blink" => Modifier::SLOW_BLINK,
        _ => return None,
    })
}

fn parse_colour(s: &str) -> Result<Color, String> {
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let n = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            return Ok(Color::Rgb((n >> 16) as u8, (n >> 8) as u8, n as u8));
        }
        return Err(format!("invalid hex colour '{s}' (expected #rrggbb)"));
    }
    if let Ok(n) = s.parse::<u8>() {
        return Ok(Color::Indexed(n));
    }
    Ok(match s.to_ascii_lowercase().replace(['_', '-', ' '], "").as_str() {
        "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return Err(format!("unknown colour '{s}'")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_loads_and_styles_the_states() {
        for (name, _) in BUILTIN {
            let t = Theme::load(name, false).unwrap_or_else(|e| panic!("{e}"));
            for slot in [
                Slot::Unhealthy,
                Slot::Selected,
                Slot::LogError,
                Slot::SearchMatch,
                Slot::AlertCritical,
                Slot::AlertWarning,
                Slot::ValueCritical,
            ] {
                assert_ne!(t.style(slot), Style::default(), "{name}: slot {} unstyled", slot.name());
            }
        }
    }

    #[test]
    fn light_inherits_default_and_overrides() {
        let d = Theme::load("default", false).unwrap();
        let l = Theme::load("light", false).unwrap();
        assert_ne!(d.style(Slot::Text), l.style(Slot::Text));
    }

    #[test]
    fn no_color_strips_colours_keeps_modifiers() {
        let t = Theme::load("default", true).unwrap();
        for s in Slot::ALL {
            assert_eq!(t.style(*s).fg, None);
            assert_eq!(t.style(*s).bg, None);
        }
        assert!(
            t.style(Slot::Selected).add_modifier.contains(Modifier::REVERSED)
                || t.style(Slot::Selected).add_modifier.contains(Modifier::BOLD)
        );
    }

    fn load_text(text: &str) -> Result<Theme, ConfigError> {
        let dir = std::env::temp_dir().join(format!("sd-theme-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.toml");
        std::fs::write(&p, text).unwrap();
        Theme::load(p.to_str().unwrap(), false)
    }

    #[test]
    fn bad_colour_names_line_and_fix() {
        let e = load_text("inherits = \"default\"\n[styles]\nhealthy = { fg = \"#zz0000\" }\n").unwrap_err();
        assert_eq!(e.position, Some((3, 18)));
        assert!(e.message.contains("invalid hex colour '#zz0000'"), "{e}");
    }

    #[test]
    fn unknown_slot_and_inherits() {
        let e = load_text("[styles]\nhealthyy = \"green\"\n").unwrap_err();
        assert!(e.message.contains("unknown style slot 'healthyy'"), "{e}");
        let e = load_text("inherits = \"solarized\"\n").unwrap_err();
        assert!(e.message.contains("unknown theme 'solarized'"), "{e}");
    }

    #[test]
    fn palette_names_are_usable_in_styles() {
        let t =
            load_text("inherits = \"default\"\n[palette]\nacid = \"#00ff00\"\n[styles]\nhealthy = \"acid\"\n").unwrap();
        assert_eq!(t.style(Slot::Healthy).fg, Some(Color::Rgb(0, 255, 0)));
    }

    #[test]
    fn child_palette_recolours_inherited_styles() {
        let t = load_text("inherits = \"default\"\n[palette]\nok = \"#010203\"\n").unwrap();
        assert_eq!(t.style(Slot::Healthy).fg, Some(Color::Rgb(1, 2, 3)));
    }

    #[test]
    fn unknown_builtin_name() {
        let e = Theme::load("nope", false).unwrap_err();
        assert!(e.fix.contains("high-contrast"));
    }
}
