pub mod address;
pub mod dedupe;
pub mod exit;
pub mod input;
pub mod secret;
