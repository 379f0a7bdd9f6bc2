//! Name lookups through the system's resolver (as reqwest's default does), with a failure of our own
//! type: a host that does not resolve is told from other connection failures by its type, found in the
//! error's causes, not by matching the words of an error message.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A name lookup that failed; `temporary` when the resolver said to try again (`EAI_AGAIN`: no answer
/// from the DNS servers now), as opposed to a name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {source}")]
pub struct ResolveFailed {
    pub host: String,
    pub temporary: bool,
    source: std::io::Error,
}

/// The system's resolver (`getaddrinfo`, through tokio's blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl Resolve for System {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.clone(), 0)).await;
            match found {
                Ok(addrs) => {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    Ok(Box::new(addrs.into_iter()) as Addrs)
                }
                Err(source) => {
                    // The resolver's own words are all the standard library keeps of EAI_AGAIN.
                    let text = source.to_string().to_ascii_lowercase();
                    let temporary = source.kind() == std::io::ErrorKind::WouldBlock
                        || text.contains("temporary failure")
                        || text.contains("try again");
                    Err(Box::new(ResolveFailed {
                        host,
                        temporary,
                        source,
                    })
                        as Box<dyn std::error::Error + Send + Sync>)
                }
            }
        })
    }
}
