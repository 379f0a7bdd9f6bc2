pub mod address;
pub mod client;
pub mod dedupe;
pub mod exit;
pub mod input;
pub mod report;
pub mod secret;
