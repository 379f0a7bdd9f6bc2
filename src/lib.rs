//! okta-org: clears a mail system's bounce list from Okta's email bounce list, accounting for every input
//! row, and manages Okta org settings. The binary is a thin shell over [`app::run`].

pub mod address;
pub mod app;
pub mod bounces;
pub mod cli;
pub mod client;
pub mod config;
pub mod dedupe;
pub mod exit;
pub mod input;
pub mod interrupt;
pub mod oauth;
pub mod org;
pub mod report;
pub mod secret;
pub mod simulator;
pub mod term;

pub use term::say;
