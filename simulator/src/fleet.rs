//! Many orgs at once, for trying and testing runs across several orgs: one independent simulator per
//! org (its own port, users, limits, token, identity and mail), orgs derived from one another so they
//! differ, and the okta.yaml whose profiles (`org1` .. `orgN`) point at them.

use std::net::SocketAddr;

use super::logs::{events, time};
use super::{OrgIdentity, SimConfig, Simulator, user_id};

/// The users of org `k` (1-based) of a fleet made from one list: org 1 has them all, org `k` ≥ 2 all
/// but every `(k+1)`-th, so that the orgs overlap, as orgs of one company do, without being the same.
pub fn fleet_users(users: &[String], k: usize) -> Vec<String> {
    if k <= 1 {
        return users.to_vec();
    }
    users
        .iter()
        .enumerate()
        .filter(|(i, _)| i % (k + 1) != k)
        .map(|(_, u)| u.clone())
        .collect()
}

impl SimConfig {
    /// The demo org's System Log, bounce list and settings, for these users (the events about users it
    /// does not have are left out).
    pub fn demo_org(token: impl Into<String>, users: Vec<String>) -> SimConfig {
        let mut c = SimConfig::new(token);
        let ids: Vec<String> = (0..users.len()).map(user_id).collect();
        (c.log_events, c.bounce_list) = events::demo(&users, &ids, time::now_ms());
        c.users = users;
        c
    }

    /// This org as org `k` (1-based) of a fleet: org 1 is unchanged; org `k` ≥ 2 gets an id, subdomain
    /// and company name of its own (`acme2`, "Acme Corp 2", ...) and a mail flow seeded apart.
    pub fn in_fleet(mut self, k: usize) -> SimConfig {
        if k <= 1 {
            return self;
        }
        let base = self.org.clone();
        self.org = OrgIdentity {
            id: format!("{}{k:03}", &base.id[..base.id.len().saturating_sub(3)]),
            subdomain: format!("{}{k}", base.subdomain),
            company_name: format!("{} {k}", base.company_name),
        };
        if let Some(mail) = &mut self.mail {
            mail.seed = mail.seed.wrapping_add(k as u64 - 1);
        }
        self
    }
}

/// One org of a fleet.
pub struct FleetOrg {
    /// Its profile name in the okta.yaml: `org1`, `org2`, ...
    pub profile: String,
    /// The API token it accepts.
    pub token: String,
    pub sim: Simulator,
}

/// Simulators standing for several orgs; dropping it stops them all.
pub struct Fleet {
    orgs: Vec<FleetOrg>,
}

impl Fleet {
    /// Starts one simulator per configuration, named `org1` .. `orgN` in order, on ephemeral ports, or
    /// on `first_port`, `first_port + 1`, ... The error names the address that could not be had.
    pub async fn start(configs: Vec<SimConfig>, first_port: Option<u16>) -> std::io::Result<Fleet> {
        let mut orgs = Vec::with_capacity(configs.len());
        for (i, config) in configs.into_iter().enumerate() {
            let port = match first_port {
                None | Some(0) => 0,
                Some(p) => u16::try_from(usize::from(p) + i).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "org {} would need port {}, above 65535",
                            i + 1,
                            usize::from(p) + i
                        ),
                    )
                })?,
            };
            let token = config.token.clone();
            let sim = Simulator::start(config, port).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on 127.0.0.1:{port}: {e}"))
            })?;
            orgs.push(FleetOrg {
                profile: format!("org{}", i + 1),
                token,
                sim,
            });
        }
        Ok(Fleet { orgs })
    }

    pub fn orgs(&self) -> &[FleetOrg] {
        &self.orgs
    }

    /// The org of a profile name.
    pub fn org(&self, profile: &str) -> Option<&FleetOrg> {
        self.orgs.iter().find(|o| o.profile == profile)
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.orgs.iter().map(|o| o.sim.addr()).collect()
    }

    /// An okta.yaml with one profile per org.
    pub fn okta_yaml(&self) -> String {
        let profiles: Vec<(String, String, String)> = self
            .orgs
            .iter()
            .map(|o| (o.profile.clone(), o.sim.url(), o.token.clone()))
            .collect();
        okta_yaml(&profiles)
    }
}

/// An okta.yaml as Okta's SDKs and okta-org read it, one profile per `(name, org URL, API token)`:
/// `okta: profiles: NAME: client: {orgUrl, token}`. Values are written as double-quoted scalars (JSON
/// strings, which YAML reads the same), so no token can break the file.
pub fn okta_yaml(profiles: &[(String, String, String)]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let plain = |s: &str| {
        let bare = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if bare { s.to_string() } else { quote(s) }
    };
    let mut out = String::from("okta:\n  profiles:\n");
    for (name, url, token) in profiles {
        out.push_str(&format!(
            "    {}:\n      client:\n        orgUrl: {}\n        token: {}\n",
            plain(name),
            quote(url),
            quote(token)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{fleet_users, okta_yaml};
    use crate::SimConfig;

    #[test]
    fn orgs_of_a_fleet_overlap_but_differ() {
        let users: Vec<String> = (0..12).map(|i| format!("u{i}@acme.example")).collect();
        assert_eq!(fleet_users(&users, 1), users);
        let two = fleet_users(&users, 2);
        let three = fleet_users(&users, 3);
        assert_eq!(two.len(), 8);
        assert_eq!(three.len(), 9);
        assert_ne!(two, three);
        assert!(!two.contains(&users[2]) && three.contains(&users[2]));
        assert!(two.contains(&users[3]) && !three.contains(&users[3]));

        let one = SimConfig::new("t").in_fleet(1);
        let third = SimConfig::new("t").in_fleet(3);
        assert_eq!(one.org, crate::OrgIdentity::default());
        assert_eq!(third.org.subdomain, "acme3");
        assert_eq!(third.org.id.len(), one.org.id.len());
        assert_ne!(third.org.id, one.org.id);
    }

    #[test]
    fn the_yaml_quotes_what_it_writes() {
        let yaml = okta_yaml(&[
            ("org1".into(), "http://127.0.0.1:1".into(), "plain".into()),
            (
                "org 2".into(),
                "http://127.0.0.1:2".into(),
                "a\"b: #c'".into(),
            ),
        ]);
        assert_eq!(
            yaml,
            "okta:\n  profiles:\n    org1:\n      client:\n        orgUrl: \"http://127.0.0.1:1\"\n        \
             token: \"plain\"\n    \"org 2\":\n      client:\n        orgUrl: \"http://127.0.0.1:2\"\n        \
             token: \"a\\\"b: #c'\"\n"
        );
    }
}
