//! Who gets which access from the test [token server](crate::token): users and passwords,
//! grants (per user or for anyone, on exact repository names or `prefix*` patterns), identity
//! (refresh) tokens, and the `type:name:actions` scope syntax of distribution's token spec.
//!
//! Like real token servers, actions asked for but not granted are silently left out of the
//! token's `access` claim; a resource with no action left is left out entirely.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of a token's `access` claim (and a parsed `scope`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `repository`, `registry`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name (or `catalog` for `registry`).
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

impl Access {
    /// `repository:NAME:ACTIONS`.
    pub fn repository(name: &str, actions: &[&str]) -> Access {
        Access {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The scope string: `type:name:a,b`.
    pub fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Parses `type:name:actions` (the name may itself hold colons, e.g. a `host:port/` prefix;
/// a type may carry a class, `repository(plugin)`, which is kept as part of the type).
pub fn parse_scope(scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(Access {
        kind: kind.to_owned(),
        name: name.to_owned(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// To whom a [`Grant`] applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Everyone: anonymous clients and every user.
    Anyone,
    /// One authenticated user.
    User(String),
}

/// Actions on resources matching a pattern, for a [`Subject`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Who.
    pub subject: Subject,
    /// Resource type (`repository`), or `*` for every type.
    pub kind: String,
    /// Exact name, `prefix*`, or `*` for every name.
    pub pattern: String,
    /// Actions granted; `*` grants every action.
    pub actions: Vec<String>,
}

impl Grant {
    /// A grant on repositories matching `pattern`.
    pub fn repository(subject: Subject, pattern: &str, actions: &[&str]) -> Grant {
        Grant {
            subject,
            kind: "repository".into(),
            pattern: pattern.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Whether it applies to `user` (`None`: anonymous) and this resource.
    fn covers(&self, user: Option<&str>, kind: &str, name: &str) -> bool {
        let subject = match &self.subject {
            Subject::Anyone => true,
            Subject::User(u) => Some(u.as_str()) == user,
        };
        let kind_ok = self.kind == "*" || self.kind == kind;
        let name_ok = match self.pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.pattern == name,
        };
        subject && kind_ok && name_ok
    }

    /// Whether it grants `action`.
    fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == "*" || a == action)
    }
}

/// Users, grants and identity tokens of a token server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenPolicy {
    /// User name → password.
    pub users: BTreeMap<String, String>,
    /// Grants, applied together (their union).
    pub grants: Vec<Grant>,
    /// Identity (refresh) token → user name.
    pub refresh_tokens: BTreeMap<String, String>,
}

impl TokenPolicy {
    /// Adds (or changes) a user.
    pub fn add_user(&mut self, name: &str, password: &str) {
        self.users.insert(name.to_owned(), password.to_owned());
    }

    /// Adds a user with every action on every resource.
    pub fn add_admin(&mut self, name: &str, password: &str) {
        self.add_user(name, password);
        self.grants.push(Grant {
            subject: Subject::User(name.to_owned()),
            kind: "*".into(),
            pattern: "*".into(),
            actions: vec!["*".into()],
        });
    }

    /// Removes every grant of `user` (and keeps the user able to log in).
    pub fn revoke(&mut self, user: &str) {
        self.grants
            .retain(|g| g.subject != Subject::User(user.to_owned()));
    }

    /// Whether `user` exists with this password.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.users.get(user).is_some_and(|p| p == password)
    }

    /// The refresh token of `user`: a configured one, else a new one that is remembered.
    pub fn refresh_token_for(&mut self, user: &str) -> String {
        if let Some((token, _)) = self.refresh_tokens.iter().find(|(_, u)| *u == user) {
            return token.clone();
        }
        let mut random = [0u8; 16];
        let _ = crate::random_fill(&mut random);
        let token = format!("refresh-{}", hex::encode(random));
        self.refresh_tokens.insert(token.clone(), user.to_owned());
        token
    }

    /// The access for `user` (`None`: anonymous) from these scopes: per resource (merged when
    /// asked twice), the actions asked that some grant allows, in the order asked.
    /// Unparsable scopes and resources with nothing granted are left out.
    pub fn grant(&self, user: Option<&str>, scopes: &[String]) -> Vec<Access> {
        let mut out: Vec<Access> = Vec::new();
        for requested in scopes.iter().filter_map(|s| parse_scope(s)) {
            let grants: Vec<&Grant> = self
                .grants
                .iter()
                .filter(|g| g.covers(user, &requested.kind, &requested.name))
                .collect();
            let allowed = requested
                .actions
                .iter()
                .filter(|action| grants.iter().any(|g| g.allows(action)));
            let index = match out
                .iter()
                .position(|a| a.kind == requested.kind && a.name == requested.name)
            {
                Some(index) => index,
                None => {
                    out.push(Access {
                        kind: requested.kind.clone(),
                        name: requested.name.clone(),
                        actions: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            for action in allowed {
                if !out[index].actions.contains(action) {
                    out[index].actions.push(action.clone());
                }
            }
        }
        out.retain(|a| !a.actions.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_intersected_and_merged() {
        let mut policy = TokenPolicy::default();
        policy.add_user("alice", "pw");
        policy.grants.push(Grant::repository(
            Subject::User("alice".into()),
            "team/*",
            &["pull", "push"],
        ));
        policy
            .grants
            .push(Grant::repository(Subject::Anyone, "public", &["pull"]));
        let scopes = [
            "repository:team/app:pull,push,delete".to_owned(),
            "repository:public:pull,push".to_owned(),
            "repository:other:pull".to_owned(),
            "repository:team/app:pull".to_owned(),
            "garbage".to_owned(),
        ];
        assert_eq!(
            policy.grant(Some("alice"), &scopes),
            [
                Access::repository("team/app", &["pull", "push"]),
                Access::repository("public", &["pull"]),
            ]
        );
        assert_eq!(
            policy.grant(None, &scopes),
            [Access::repository("public", &["pull"])]
        );
        assert_eq!(
            parse_scope("repository:127.0.0.1:5000/a:pull")
                .unwrap()
                .name,
            "127.0.0.1:5000/a"
        );
    }
}
