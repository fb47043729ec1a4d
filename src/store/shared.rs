//! Which store this process uses: the SQLite file in the state dir (the default), or the
//! team's shared PostgreSQL store (`[state] url`). Chosen once at start-up (and again when
//! the panel switches environment), read by every [`super::Store::open`] and lock.

use std::str::FromStr;
use std::sync::RwLock;

/// A shared PostgreSQL store: its URL (without a password) and the variable that holds the
/// password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub url: String,
    pub password_env: String,
}

/// The default variable for the password: libpq's own.
pub const PASSWORD_ENV: &str = "PGPASSWORD";

static CURRENT: RwLock<Option<Shared>> = RwLock::new(None);

/// Use `shared` (or the SQLite file, for `None`) from now on.
pub fn configure(shared: Option<Shared>) {
    *CURRENT.write().unwrap_or_else(std::sync::PoisonError::into_inner) = shared;
}

/// The shared store in use, if any.
pub fn current() -> Option<Shared> {
    CURRENT.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

impl Shared {
    /// Check a configured URL: a PostgreSQL URL, with no password in it (it would end up in
    /// shell history, process lists and the config repository). `Err` is the fix, in words.
    pub fn parse(url: &str, password_env: Option<&str>) -> Result<Shared, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("url must be a PostgreSQL URL: postgres://USER@HOST:PORT/DATABASE".into());
        }
        let cfg = postgres::Config::from_str(url)
            .map_err(|e| format!("url is not a PostgreSQL URL ({e}): postgres://USER@HOST:PORT/DATABASE"))?;
        if cfg.get_password().is_some() {
            return Err(format!(
                "url holds a password: remove it and put it in the environment variable {} instead",
                password_env.unwrap_or(PASSWORD_ENV)
            ));
        }
        if cfg.get_user().is_none() {
            return Err("url names no user: postgres://USER@HOST:PORT/DATABASE".into());
        }
        let password_env = password_env.unwrap_or(PASSWORD_ENV).to_owned();
        if password_env.is_empty() || !password_env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("password_env must name an environment variable (letters, digits, _)".into());
        }
        Ok(Shared { url: url.to_owned(), password_env })
    }

    /// The store as messages and the header name it: `postgres://user@host:port/db`.
    pub fn shown(&self) -> String {
        crate::logtext::inert(&self.url).into_owned()
    }

    /// The client's configuration, with the password from the environment.
    pub fn config(&self) -> Result<postgres::Config, String> {
        let mut cfg = postgres::Config::from_str(&self.url).map_err(|e| format!("{}: {e}", self.shown()))?;
        if let Ok(pw) = std::env::var(&self.password_env) {
            cfg.password(pw);
        }
        cfg.application_name("stackdeck");
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_refused_with_the_variable_to_use() {
        let e = Shared::parse("postgres://sd:secret@127.0.0.1:5432/sd", None).unwrap_err();
        assert!(e.contains("PGPASSWORD"), "{e}");
        let e = Shared::parse("postgres://sd:secret@127.0.0.1/sd", Some("SD_PW")).unwrap_err();
        assert!(e.contains("SD_PW"), "{e}");
    }

    #[test]
    fn urls_are_checked() {
        assert!(Shared::parse("mysql://a@b/c", None).is_err());
        assert!(Shared::parse("postgres://127.0.0.1/sd", None).unwrap_err().contains("no user"));
        assert!(Shared::parse("postgres://sd@127.0.0.1/sd", Some("BAD NAME")).is_err());
        let s = Shared::parse("postgres://sd@127.0.0.1:5433/sd", None).unwrap();
        assert_eq!(s.password_env, "PGPASSWORD");
        assert_eq!(s.shown(), "postgres://sd@127.0.0.1:5433/sd");
    }
}
