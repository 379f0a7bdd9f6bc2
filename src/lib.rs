//! okta-org: clears a mail system's bounce list from Okta's email bounce list, accounting for every input
//! row, and manages Okta org settings. The binary is a thin shell over [`cmd::run`].
//!
//! Commands live in `cmd/` (one module each); `session` turns configuration into an authorized client;
//! `endpoints` describes every Okta operation once. The main job is the engine in `engine/` (with `input/`,
//! `address`, `dedupe`, `report`), the transport is `client/` (pacing, retries, errors), sign-in is
//! `config` and `oauth/`. The Okta simulator behind `--simulate` is the workspace's other crate,
//! `simulator/` (`okta-org-simulator`), used through the default `simulator` feature.

pub mod address;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod config;
pub mod dedupe;
pub mod endpoints;
pub mod engine;
pub mod escape;
pub mod exit;
pub mod fleet;
pub mod input;
pub mod interrupt;
pub mod ledger;
pub mod logs;
pub mod models;
pub mod oauth;
pub mod os_error;
pub mod outputs;
pub mod report;
pub mod secret;
pub mod session;
pub mod sync;
pub mod term;
