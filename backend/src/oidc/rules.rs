//! Which rule lets a verified token write a target: a rule of the token's issuer whose every
//! claim condition holds (`*` in a value matches any text) and one of whose target patterns
//! matches the target. Every target a submission writes must be let by some rule; when one is
//! not, the refusal names the token's repository (or subject), the target and the rules asked.

use super::{IdToken, Rule};

/// No rule lets the token write a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the message says: who, which target (or source), which rules were asked.
    pub message: String,
    /// The source refused, as its index among those asked about (none: a target was).
    pub source: Option<usize>,
}

impl Rule {
    /// Whether the rule is for this token (its issuer, and every claim as it asks).
    fn matches(&self, token: &IdToken) -> bool {
        self.issuer == token.issuer
            && self.claims.iter().all(|(name, pattern)| {
                token
                    .claim(name)
                    .is_some_and(|value| glob_match(pattern, &value))
            })
    }

    fn allows(&self, target: &str) -> bool {
        self.targets.iter().any(|p| glob_match(p, target))
    }

    /// Whether the rule lets its tokens take this source (a rule naming no sources: any).
    fn reads(&self, source: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|p| glob_match(p, source))
    }
}

/// The rule that lets `token` write every one of `targets` (each must be let by some rule; the
/// first target's rule is named), or why not.
pub fn decide<'r>(
    rules: &'r [Rule],
    token: &IdToken,
    targets: &[String],
    sources: &[String],
) -> Result<&'r Rule, Refusal> {
    let mine = matching(rules, token);
    let mut named = None;
    for target in targets {
        let writers: Vec<&Rule> = mine.iter().copied().filter(|r| r.allows(target)).collect();
        if writers.is_empty() {
            return Err(refusal(rules, &mine, token, target));
        }
        match writers.iter().find(|r| sources.iter().all(|s| r.reads(s))) {
            Some(rule) => {
                named.get_or_insert(*rule);
            }
            None => return Err(source_refusal(&writers, token, target, sources)),
        }
    }
    named.ok_or_else(|| refusal(rules, &mine, token, ""))
}

/// No rule that lets the token write `target` reads every source: the first source none reads
/// (or the first the first of them does not).
fn source_refusal(writers: &[&Rule], token: &IdToken, target: &str, sources: &[String]) -> Refusal {
    let index = sources
        .iter()
        .position(|s| !writers.iter().any(|r| r.reads(s)))
        .or_else(|| sources.iter().position(|s| !writers[0].reads(s)))
        .unwrap_or(0);
    let theirs: Vec<String> = writers
        .iter()
        .map(|r| format!("{}: {}", r.name, r.sources.join(", ")))
        .collect();
    Refusal {
        message: format!(
            "no rule that lets {} push to {target} lets it take {} (their sources: {})",
            who(token),
            sources.get(index).map_or("", String::as_str),
            theirs.join("; ")
        ),
        source: Some(index),
    }
}

/// The rules whose issuer and claims are the token's.
pub fn matching<'r>(rules: &'r [Rule], token: &IdToken) -> Vec<&'r Rule> {
    rules.iter().filter(|r| r.matches(token)).collect()
}

/// A token may read when some rule is for it (whatever it lets write): a token of any other
/// repository of a public issuer may not.
pub fn may_read(rules: &[Rule], token: &IdToken) -> Result<(), Refusal> {
    if matching(rules, token).is_empty() {
        return Err(Refusal {
            message: format!(
                "no rule of {} matches the ID token of {}: it may not read",
                token.issuer,
                who(token)
            ),
            source: None,
        });
    }
    Ok(())
}

/// Who a token names: its repository (and ref), or its subject.
fn who(token: &IdToken) -> String {
    let repository = token
        .claim("repository")
        .or_else(|| token.claim("project_path"));
    match (repository, token.claim("ref")) {
        (Some(repo), Some(r)) => format!("repository {repo} (ref {r})"),
        (Some(repo), None) => format!("repository {repo}"),
        _ => format!("subject {}", token.claim("sub").unwrap_or_default()),
    }
}

fn refusal(rules: &[Rule], mine: &[&Rule], token: &IdToken, target: &str) -> Refusal {
    let who = who(token);
    let asked: Vec<&str> = rules
        .iter()
        .filter(|r| r.issuer == token.issuer)
        .map(|r| r.name.as_str())
        .collect();
    let matching: Vec<&str> = mine.iter().map(|r| r.name.as_str()).collect();
    let asked = if asked.is_empty() {
        "none".to_owned()
    } else {
        asked.join(", ")
    };
    let matching = if matching.is_empty() {
        "none".to_owned()
    } else {
        matching.join(", ")
    };
    Refusal {
        message: format!(
            "no rule lets {who} push to {target} (rules of {}: {asked}; matching its claims: {matching})",
            token.issuer
        ),
        source: None,
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any text (none included) and every
/// other character for itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(repo: &str, r: &str) -> IdToken {
        IdToken {
            issuer: "https://issuer.test".to_owned(),
            claims: serde_json::json!({"sub": "repo:x", "repository": repo, "ref": r, "run_id": 7})
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    fn rule(name: &str, repo: &str, target: &str) -> Rule {
        Rule {
            name: name.to_owned(),
            issuer: "https://issuer.test".to_owned(),
            claims: [
                ("repository".to_owned(), repo.to_owned()),
                ("ref".to_owned(), "refs/heads/*".to_owned()),
            ]
            .into(),
            targets: vec![target.to_owned()],
            sources: Vec::new(),
        }
    }

    #[test]
    fn a_star_matches_any_text_and_everything_else_itself() {
        assert!(glob_match("ghcr.io/org/demo:*", "ghcr.io/org/demo:v1"));
        assert!(glob_match(
            "127.0.0.1:5000/demo/*",
            "127.0.0.1:5000/demo/a/b:c"
        ));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYc"));
        assert!(!glob_match("ghcr.io/org/demo:*", "ghcr.io/org/demo2:v1"));
        assert!(!glob_match("refs/heads/main", "refs/heads/main2"));
        assert!(!glob_match("a*c", "abd"));
    }

    #[test]
    fn every_target_needs_a_rule_whose_claims_match_and_the_first_one_is_named() {
        let rules = vec![
            rule("demo", "org/demo", "r.test/demo:*"),
            rule("other", "org/other", "r.test/other:*"),
        ];
        let demo = token("org/demo", "refs/heads/main");

        let let_in = decide(
            &rules,
            &demo,
            &["r.test/demo:v1".to_owned(), "r.test/demo:latest".to_owned()],
            &[],
        );
        let refused = decide(
            &rules,
            &demo,
            &["r.test/demo:v1".to_owned(), "r.test/other:v1".to_owned()],
            &[],
        )
        .unwrap_err();
        let wrong_ref = decide(
            &rules,
            &token("org/demo", "refs/tags/v1"),
            &["r.test/demo:v1".to_owned()],
            &[],
        );

        assert_eq!(let_in.unwrap().name, "demo");
        assert!(
            refused
                .message
                .contains("repository org/demo (ref refs/heads/main) push to r.test/other:v1"),
            "{}",
            refused.message
        );
        assert!(
            refused
                .message
                .contains("rules of https://issuer.test: demo, other; matching its claims: demo"),
            "{}",
            refused.message
        );
        assert!(wrong_ref.is_err());
    }

    #[test]
    fn a_rule_naming_sources_lets_its_tokens_take_only_those() {
        let mut staged = rule("staged", "org/demo", "r.test/demo:*");
        staged.sources = vec!["r.test/demo-*".to_owned()];
        let rules = [staged];
        let demo = token("org/demo", "refs/heads/main");
        let target = ["r.test/demo:v1".to_owned()];
        let own = [
            "r.test/demo-amd64:v1".to_owned(),
            "r.test/demo-arm64:v1".to_owned(),
        ];
        let theirs = [
            "r.test/demo-amd64:v1".to_owned(),
            "r.test/secret:v1".to_owned(),
        ];

        let taken = decide(&rules, &demo, &target, &own);
        let refused = decide(&rules, &demo, &target, &theirs).unwrap_err();

        assert_eq!(taken.unwrap().name, "staged");
        assert_eq!(refused.source, Some(1));
        assert!(
            refused.message.contains("push to r.test/demo:v1 lets it take r.test/secret:v1 (their sources: staged: r.test/demo-*)"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn a_claim_that_is_a_number_matches_as_text_and_a_missing_claim_never() {
        let mut numbered = rule("run", "org/demo", "r.test/demo:*");
        numbered.claims.insert("run_id".to_owned(), "7".to_owned());
        let mut absent = rule("absent", "org/demo", "r.test/demo:*");
        absent
            .claims
            .insert("environment".to_owned(), "*".to_owned());

        assert!(
            decide(
                &[numbered],
                &token("org/demo", "refs/heads/x"),
                &["r.test/demo:v1".to_owned()],
                &[]
            )
            .is_ok()
        );
        assert!(
            decide(
                &[absent],
                &token("org/demo", "refs/heads/x"),
                &["r.test/demo:v1".to_owned()],
                &[]
            )
            .is_err()
        );
    }
}
