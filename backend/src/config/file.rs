//! The service's configuration file: YAML under the settings' snake_case names, read into
//! [`Settings`] and laid under what the flags and environment gave. A list may be a YAML list or
//! one comma-separated string, as its environment variable takes it.

use std::path::Path;

use serde::Deserialize;

use super::Settings;

/// `given` over `file`: every setting `given` has (a flag or environment variable) wins.
pub(super) fn overlay(given: &Settings, file: Settings) -> anyhow::Result<Settings> {
    let mut merged = serde_json::to_value(file)?;
    let serde_json::Value::Object(top) = serde_json::to_value(given)? else {
        anyhow::bail!("settings serialise as a map");
    };
    let target = merged
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("settings serialise as a map"))?;
    for (key, value) in top {
        let unset = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        if !unset {
            target.insert(key, value);
        }
    }
    let mut settings: Settings = serde_json::from_value(merged)?;
    settings.config = given.config.clone();
    Ok(settings)
}

pub(super) fn read(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Settings::default());
    }
    yaml_serde::from_str(&text).map_err(|e| {
        let hint = quoting_hint(&text, &e).unwrap_or_default();
        anyhow::anyhow!("config file {}: {e}{hint}", path.display())
    })
}

/// What to do when YAML refused a value ending in a colon (`database_url: sqlite::memory:`): a
/// plain YAML value may not end with one, so it must be quoted. Names the key and its line.
fn quoting_hint(text: &str, e: &yaml_serde::Error) -> Option<String> {
    let reported = e.location()?.line();
    (reported.saturating_sub(1)..=reported).find_map(|n| {
        let line = text.lines().nth(n.checked_sub(1)?)?;
        let (key, value) = line.split_once(": ")?;
        let (key, value) = (key.trim(), value.trim());
        let plain = !value.starts_with(['"', '\'']);
        (plain && value.len() > 1 && value.ends_with(':')).then(|| {
            format!(
                " — `{key}` on line {n}: YAML does not take a value ending in `:` unquoted; \
                 quote it: {key}: \"{value}\""
            )
        })
    })
}

/// A list setting in the file: a YAML list (`[a, b]`), or one string of comma-separated items
/// (`"a,b"`), as the environment variables take it; items are trimmed, empty ones dropped.
pub(super) fn comma_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct CommaList<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for CommaList<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list, or a string of comma-separated items")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<T>, E> {
            use serde::de::IntoDeserializer as _;
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| T::deserialize(item.into_deserializer()))
                .collect()
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }

    d.deserialize_any(CommaList(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::super::tests::args;
    use super::*;
    use crate::auth::hash_token;
    use crate::registry::Timeouts;

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(
            &path,
            "workers: 9\njob_lease_secs: 7\nregistries: [ghcr.io]\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(path);
        a.workers = Some(2);
        let config = Settings::load(a).unwrap();
        assert_eq!(config.workers(), 2);
        assert_eq!(config.job_lease(), Duration::from_secs(7));
        assert_eq!(config.registries, vec!["ghcr.io".to_owned()]);
    }

    #[test]
    fn timeouts_come_from_the_file_under_their_names_and_a_bad_one_is_refused_by_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, "idle_timeout: 90\nanswer_timeout: 2.5\n").unwrap();
        let mut a = args();
        a.config = Some(path);
        a.timeouts.connect_timeout = Some(3.0);
        let timeouts = Settings::load(a).unwrap().client_config().unwrap().timeouts;
        assert_eq!(timeouts.idle, Duration::from_secs(90));
        assert_eq!(timeouts.answer, Duration::from_millis(2500));
        assert_eq!(timeouts.connect, Duration::from_secs(3));
        assert_eq!(timeouts.request, Timeouts::default().request);
        let mut bad = args();
        bad.timeouts.idle_timeout = Some(0.0);
        let err = Settings::load(bad).unwrap_err().to_string();
        assert!(err.contains("--idle-timeout"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, "wokers: 9\n").unwrap();
        let mut a = args();
        a.config = Some(path);
        assert!(
            Settings::load(a)
                .unwrap_err()
                .to_string()
                .contains("wokers")
        );
    }

    #[test]
    fn the_example_configuration_loads_names_every_setting_and_holds_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/manifold.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let written: serde_json::Value = yaml_serde::from_str(&text).unwrap();
        let mut written: Vec<&String> = written.as_object().unwrap().keys().collect();
        written.sort();
        let settings = serde_json::to_value(Settings::default()).unwrap();
        let mut every: Vec<&String> = settings.as_object().unwrap().keys().collect();
        every.sort();

        let example = Settings::load(Settings {
            config: Some(path),
            ..Settings::default()
        })
        .unwrap();

        assert_eq!(
            written, every,
            "packaging/manifold.yaml must name every setting (documented, at its default)"
        );
        let none = Settings::load(Settings::default()).unwrap();
        assert_eq!(example.addr(), none.addr());
        assert_eq!(example.database_url(), none.database_url());
        assert_eq!(example.workers(), none.workers());
        assert_eq!(example.protect_reads(), none.protect_reads());
        assert_eq!(example.job_lease(), none.job_lease());
        assert_eq!(example.job_retry(), none.job_retry());
        assert_eq!(example.watch_interval(), none.watch_interval());
        assert_eq!(example.list_cache_bytes(), none.list_cache_bytes());
        assert_eq!(example.allow(), none.allow());
        assert!(example.callback_secret().is_none() && example.api_token_hashes.is_empty());
        let (example, none) = (
            example.client_config().unwrap(),
            none.client_config().unwrap(),
        );
        assert_eq!(example.timeouts, none.timeouts);
        assert_eq!(example.upload_chunk, none.upload_chunk);
    }

    #[test]
    fn a_list_in_the_file_may_be_the_comma_form_its_environment_variable_takes() {
        let dir = tempfile::tempdir().unwrap();
        let (commas, lists) = (dir.path().join("c.yaml"), dir.path().join("l.yaml"));
        std::fs::write(
            &commas,
            "registries: ghcr.io, quay.io\napi_tokens: \"t1,t2\"\nca_certs: a.pem\n\
             callback_hosts:\nresolve: r.test:127.0.0.1,s.test:127.0.0.2\n",
        )
        .unwrap();
        std::fs::write(
            &lists,
            "registries: [ghcr.io, quay.io]\napi_tokens: [t1, t2]\nca_certs: [a.pem]\n\
             callback_hosts: []\nresolve: [\"r.test:127.0.0.1\", \"s.test:127.0.0.2\"]\n",
        )
        .unwrap();
        let load = |path: &Path| {
            Settings::load(Settings {
                config: Some(path.to_owned()),
                ..args()
            })
            .unwrap()
        };

        let (commas, lists) = (load(&commas), load(&lists));

        assert_eq!(commas.registries, ["ghcr.io", "quay.io"]);
        assert_eq!(
            commas.api_token_hashes,
            [hash_token("t1"), hash_token("t2")]
        );
        assert_eq!(commas.ca_certs, [PathBuf::from("a.pem")]);
        assert!(commas.callback_hosts.is_empty());
        assert_eq!(commas.resolve_overrides().unwrap().len(), 2);
        assert_eq!(
            serde_json::to_value(&commas).unwrap(),
            serde_json::to_value(&lists).unwrap()
        );
    }

    #[test]
    fn every_list_setting_takes_the_comma_form_in_the_file() {
        let every = serde_json::to_value(Settings::default()).unwrap();
        let lists: Vec<&String> = every
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.is_array())
            .map(|(k, _)| k)
            .collect();

        for key in &lists {
            let settings: Settings = yaml_serde::from_str(&format!("{key}: x.test, y.test\n"))
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            let value = serde_json::to_value(&settings).unwrap();
            assert_eq!(
                value[key.as_str()],
                serde_json::json!(["x.test", "y.test"]),
                "{key}"
            );
        }
        assert!(lists.len() >= 8, "{lists:?}");
    }

    #[test]
    fn a_bare_value_ending_in_a_colon_is_refused_with_the_key_the_line_and_how_to_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, "workers: 2\ndatabase_url: sqlite::memory:\n").unwrap();

        let err = Settings::load(Settings {
            config: Some(path),
            ..Settings::default()
        })
        .unwrap_err()
        .to_string();

        assert!(err.contains("`database_url` on line 2"), "{err}");
        assert!(err.contains("database_url: \"sqlite::memory:\""), "{err}");
    }

    #[test]
    fn oidc_issuers_and_rules_come_from_the_file_and_a_rule_that_would_let_any_job_in_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (good, open, plain) = (
            dir.path().join("g.yaml"),
            dir.path().join("o.yaml"),
            dir.path().join("p.yaml"),
        );
        let issuer =
            "oidc:\n  issuers:\n    - issuer: https://token.actions.githubusercontent.com\n";
        let rule = "  rules:\n    - name: demo\n      issuer: https://token.actions.githubusercontent.com\n";
        std::fs::write(&good, format!("addr: \"0.0.0.0:8080\"\n{issuer}{rule}      claims: {{repository: o/demo}}\n      targets: [\"ghcr.io/o/demo:*\"]\n")).unwrap();
        std::fs::write(
            &open,
            format!("{issuer}{rule}      claims: {{}}\n      targets: [\"ghcr.io/o/demo:*\"]\n"),
        )
        .unwrap();
        std::fs::write(
            &plain,
            "oidc:\n  issuers:\n    - issuer: http://issuer.example\n",
        )
        .unwrap();
        let load = |path: &Path| {
            Settings::load(Settings {
                config: Some(path.to_owned()),
                ..args()
            })
        };

        let settings = load(&good).unwrap();
        let open = load(&open).unwrap_err().to_string();
        let plain = load(&plain).unwrap_err().to_string();

        assert_eq!(settings.oidc().issuers[0].audience, "manifold");
        assert_eq!(settings.oidc_rules()[0].targets, ["ghcr.io/o/demo:*"]);
        assert!(
            settings.writes_need_credentials(),
            "a public address with issuers only"
        );
        assert!(open.contains("oidc.rules[0].claims"), "{open}");
        assert!(
            plain.contains("oidc.issuers[0].issuer") && plain.contains("https"),
            "{plain}"
        );
    }

    #[test]
    fn secrets_from_the_file_are_kept_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(
            &path,
            "database_url: \"sqlite::memory:\"\ncallback_secret: hush-hush\n",
        )
        .unwrap();
        let config = Settings::load(Settings {
            config: Some(path),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(config.database_url(), "sqlite::memory:");
        assert_eq!(config.callback_secret().unwrap().expose(), "hush-hush");
        assert!(!format!("{config:?}").contains("hush-hush"));
    }
}
