//! stackdeck: a terminal control panel for production Docker/compose stacks.
//!
//! Data flows one way: background tasks (`engine`, `probe`, `observe`) report [`msg::Msg`]s, the pure
//! [`update::update`] changes [`state::AppState`] and returns effects, and [`ui::draw`] renders
//! the state. Only `engine` talks to Docker.

pub mod app;
pub mod backend;
pub mod cli;
pub mod compose;
pub mod config;
pub mod domain;
pub mod drift;
pub mod engine;
pub mod envs;
pub mod exec;
pub mod export;
pub mod format;
pub mod guard;
pub mod http;
pub mod input;
pub mod logcli;
pub mod logtext;
pub mod msg;
pub mod notify;
pub mod observe;
pub mod opcli;
pub mod ops;
pub mod pace;
pub mod probe;
pub mod runner;
pub mod state;
pub mod status;
pub mod store;
pub mod terminal;
pub mod timearg;
pub mod ui;
pub mod update;
