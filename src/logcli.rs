//! `stackdeck logs`: the CLI face of `engine::log_range`, written as the panel's export writes
//! (`logtext::export`). Exit 0 with the lines, 1 when the engine cannot answer, 2 for a bad
//! argument.

use crate::engine::Endpoint;
use crate::logtext::Masker;
use crate::logtext::export::{Origin, json, text};
use std::io::Write;
use std::process::ExitCode;

pub struct Args<'a> {
    pub services: &'a [String],
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub json: bool,
    pub limit: usize,
}

pub fn run(ep: &Endpoint, project: Option<&str>, masker: &Masker, a: &Args<'_>) -> ExitCode {
    let now = jiff::Timestamp::now();
    let tz = crate::timearg::local_zone();
    let moment = |s: Option<&str>| s.map(|s| crate::timearg::parse(s, now, &tz)).transpose();
    let (since, until) = match (moment(a.since), moment(a.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("stackdeck: {e}");
            return ExitCode::from(2);
        }
    };
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        eprintln!("stackdeck: --since is after --until: nothing can be between them");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stackdeck: {e}");
            return ExitCode::from(1);
        }
    };
    let read = rt.block_on(crate::engine::log_range::read(ep, project, a.services, since, until, masker, a.limit));
    let range = match read {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stackdeck: {}", crate::logtext::inert(&e));
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for s in &range.lines {
        let o = Origin { service: &s.service, container: &s.container };
        let row = if a.json { json(o, &s.line, masker) } else { text(o, &s.line, masker) };
        // A closed pipe (`| head`) ends the output quietly.
        if writeln!(out, "{row}").is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    if range.left_out > 0 {
        eprintln!(
            "stackdeck: {} older lines left out (--limit {}): narrow --since/--until or raise --limit",
            range.left_out, a.limit
        );
    }
    ExitCode::SUCCESS
}
