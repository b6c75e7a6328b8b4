//! How the command line is read: the derive definition of [`Cli`] with two adjustments made once,
//! here, for every command — every boolean flag also takes a value (`--dry-run=false`, as
//! manifest-tool's flags do), and `serve` neither shows nor takes the registry client's flags it
//! has no use for (`--username`, `--plain-http`, …; its own settings cover what they would mean).
//! The binary, the completions and the manual pages all use [`command`] (the pages without its
//! `help` command), so they agree. A usage error exits with manifest-tool's status ([`exit_code`]),
//! and `-v` is the version, as manifest-tool spells it.

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory as _, FromArgMatches as _};

use super::Cli;

/// The global flags `serve` does not take, and what to use instead.
const NOT_FOR_SERVE: &[(&str, &str)] = &[
    (
        "username",
        "the service's registry credentials come only from its docker config (--docker-cfg)",
    ),
    (
        "password",
        "the service's registry credentials come only from its docker config (--docker-cfg)",
    ),
    (
        "plain_http",
        "name the registries reached over plain HTTP with --insecure-registries",
    ),
    (
        "insecure",
        "the service always verifies TLS; trust a registry's certificate with --ca-cert",
    ),
    (
        "concurrency",
        "the service's pushes run on --workers workers",
    ),
];

/// The whole command line, as the binary parses it.
pub fn command() -> Command {
    adjusted(Cli::command())
}

/// The command line as its manual pages show it: without the `help` command, which has no page of
/// its own to show (`--help` is on every page).
pub(super) fn manual_command() -> Command {
    adjusted(Cli::command().disable_help_subcommand(true))
}

/// `cmd` with the two adjustments, and manifest-tool's `-v` for the version, built.
fn adjusted(cmd: Command) -> Command {
    let mut cmd = booleans_take_values(cmd)
        .disable_version_flag(true)
        .arg(version_flag());
    cmd.build();
    if let Some(serve) = cmd.find_subcommand_mut("serve") {
        // In place, after the build: the global flags are on `serve` by now, and the built key
        // map of its flags stays valid (`mut_arg` would reorder them).
        *serve = std::mem::take(serve).mut_args(|arg| {
            let unused = NOT_FOR_SERVE.iter().any(|(id, _)| arg.get_id() == *id);
            if unused { arg.hide(true) } else { arg }
        });
    }
    cmd
}

/// `--version`, `-v` as manifest-tool spells it (and `-V`, clap's spelling, kept).
fn version_flag() -> Arg {
    Arg::new("version")
        .short('v')
        .visible_short_alias('V')
        .long("version")
        .action(ArgAction::Version)
        .help("Print the version and the commit it was built from")
}

/// Parses the process's arguments; a usage error prints itself and exits as manifest-tool's do
/// ([`report`]).
pub fn parse() -> Cli {
    let mut cmd = command();
    cmd.try_get_matches_from_mut(std::env::args_os())
        .and_then(|matches| from_matches(&mut cmd, &matches))
        .unwrap_or_else(|e| std::process::exit(report(&e)))
}

/// Prints what clap found — help or the version asked for, help because a command was left out
/// (on stdout, as manifest-tool shows it), or a usage error — and returns the exit status
/// manifest-tool (urfave/cli) gives the same command line: [`exit_code`].
pub(super) fn report(e: &clap::Error) -> i32 {
    let printed = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        super::output::stdout(e.render().to_string().as_bytes())
    } else {
        e.print().map_err(anyhow::Error::from)
    };
    match printed {
        Err(e) if super::output::reader_gone(&e) => super::output::READER_GONE,
        _ => exit_code(e.kind()),
    }
}

/// manifest-tool's exit status for what clap found: 0 for help and the version, asked for or
/// shown because a command was left out (bare `manifold`, `manifold push`); 3 for an unknown
/// command (urfave/cli's "No help topic"); 1 for any other usage error, which manifest-tool
/// returns as an error like any other.
pub(super) fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::InvalidSubcommand => 3,
        _ => 1,
    }
}

/// The [`Cli`] these matches describe, or the usage error they are.
fn from_matches(cmd: &mut Command, matches: &ArgMatches) -> Result<Cli, clap::Error> {
    if let Some(serve) = matches.subcommand_matches("serve") {
        for (id, instead) in NOT_FOR_SERVE {
            if serve.value_source(id) == Some(ValueSource::CommandLine) {
                let flag = long_of(cmd, id);
                return Err(cmd.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("serve does not take --{flag}: {instead}"),
                ));
            }
        }
    }
    Cli::from_arg_matches(matches).map_err(|e| e.format(cmd))
}

/// The long name of the global flag `id`.
fn long_of(cmd: &Command, id: &str) -> String {
    cmd.get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(Arg::get_long)
        .unwrap_or(id)
        .to_owned()
}

/// `cmd` and its subcommands with every boolean flag taking an optional `=true`/`=false`: given
/// bare it is true, and `=` is required so that the next word is never taken for its value.
fn booleans_take_values(cmd: Command) -> Command {
    let boolean = clap::value_parser!(bool).type_id();
    cmd.mut_args(|arg| {
        let is_boolean = match arg.get_action() {
            ArgAction::SetTrue => true,
            ArgAction::Set => arg.get_value_parser().type_id() == boolean,
            _ => false,
        };
        if is_boolean {
            arg.num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_name("BOOL")
                .hide_default_value(true)
                .hide_possible_values(true)
        } else {
            arg
        }
    })
    .mut_subcommands(booleans_take_values)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::cli::{Command as Sub, PushCommand};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut cmd = command();
        let matches = cmd.try_get_matches_from_mut(args)?;
        from_matches(&mut cmd, &matches)
    }

    fn serve(args: &[&str]) -> crate::config::Settings {
        match parse(args).unwrap().command {
            Sub::Serve(settings) => *settings,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_clap_finds_exits_with_manifest_tools_status_and_v_is_the_version() {
        let status = |args: &[&str]| parse(args).map_or_else(|e| exit_code(e.kind()), |_| 0);
        let version = parse(&["manifold", "-v"]).unwrap_err();

        assert_eq!(version.kind(), ErrorKind::DisplayVersion);
        assert_eq!(
            parse(&["manifold", "-V"]).unwrap_err().kind(),
            version.kind()
        );
        for (args, expected) in [
            (&["manifold"][..], 0),
            (&["manifold", "push"], 0),
            (&["manifold", "--help"], 0),
            (&["manifold", "nosuch"], 3),
            (&["manifold", "push", "nosuch"], 3),
            (&["manifold", "--bogus", "inspect", "r/x:y"], 1),
            (&["manifold", "push", "from-spec"], 1),
            (&["manifold", "inspect", "r/x:y", "extra"], 1),
            (
                &[
                    "manifold",
                    "push",
                    "--format",
                    "manifest-tool",
                    "from-spec",
                    "s.yaml",
                ],
                0,
            ),
        ] {
            assert_eq!(status(args), expected, "{args:?}");
        }
    }

    #[test]
    fn serve_takes_its_old_spellings_as_hidden_aliases_of_the_one_documented() {
        let old = serve(&[
            "manifold",
            "serve",
            "--docker-config",
            "/etc/d.json",
            "--ca-certs",
            "a.pem,b.pem",
            "--resolve",
            "r.test:127.0.0.1,s.test:127.0.0.2",
        ]);
        let new = serve(&[
            "manifold",
            "serve",
            "--docker-cfg",
            "/etc/d.json",
            "--ca-cert",
            "a.pem",
            "--ca-cert",
            "b.pem",
            "--resolve",
            "r.test:127.0.0.1",
            "--resolve",
            "s.test:127.0.0.2",
        ]);
        let before = serve(&["manifold", "--docker-cfg", "/etc/d.json", "serve"]);

        for settings in [&old, &new] {
            assert_eq!(settings.docker_config, Some(PathBuf::from("/etc/d.json")));
            assert_eq!(settings.ca_certs, [PathBuf::from("a.pem"), "b.pem".into()]);
            assert_eq!(settings.resolve, ["r.test:127.0.0.1", "s.test:127.0.0.2"]);
        }
        assert_eq!(before.docker_config, Some(PathBuf::from("/etc/d.json")));
    }

    #[test]
    fn serve_refuses_the_client_flags_it_has_no_use_for_naming_what_to_use() {
        let username = parse(&["manifold", "serve", "--username", "u"]).unwrap_err();
        let before = parse(&["manifold", "--concurrency", "3", "serve"]).unwrap_err();
        let plain = parse(&["manifold", "serve", "--plain-http"]).unwrap_err();

        assert_eq!(username.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(username.to_string().contains("--docker-cfg"), "{username}");
        assert!(before.to_string().contains("--workers"), "{before}");
        assert!(
            plain.to_string().contains("--insecure-registries"),
            "{plain}"
        );
        assert!(parse(&["manifold", "--concurrency", "3", "inspect", "r/x:y"]).is_ok());
    }

    #[test]
    fn every_boolean_flag_takes_false_and_true() {
        let push = parse(&[
            "manifold",
            "--debug=false",
            "-q=false",
            "--insecure=true",
            "--plain-http=false",
            "push",
            "--dry-run=false",
            "--json=false",
            "--trust-platforms=false",
            "--append=true",
            "from-spec",
            "--ignore-missing=false",
            "spec.yaml",
        ])
        .unwrap();
        let from_args = parse(&[
            "manifold",
            "push",
            "from-args",
            "--ignore-missing=false",
            "--platforms",
            "linux/amd64",
            "--template",
            "r/x-ARCH:v1",
            "--target",
            "r/x:v1",
        ])
        .unwrap();
        let inspect = parse(&[
            "manifold",
            "inspect",
            "--raw=false",
            "--expand-config",
            "r/x:y",
        ]);
        let settings = serve(&[
            "manifold",
            "serve",
            "--protect-reads=false",
            "--allow-unauthenticated",
        ]);

        let g = &push.global;
        assert!(!g.debug && !g.quiet && g.insecure && !g.plain_http);
        let Sub::Push(p) = &push.command else {
            panic!()
        };
        assert!(!p.dry_run && !p.json && !p.trust_platforms && p.append);
        let PushCommand::FromSpec(f) = &p.how else {
            panic!()
        };
        assert!(!f.ignore_missing && f.file == std::path::Path::new("spec.yaml"));
        let Sub::Push(p) = &from_args.command else {
            panic!()
        };
        let PushCommand::FromArgs(a) = &p.how else {
            panic!()
        };
        assert!(!a.ignore_missing);
        let Sub::Inspect(i) = &inspect.unwrap().command else {
            panic!()
        };
        assert!(!i.raw && i.expand_config && !i.raw_bytes && !i.json);
        assert_eq!(settings.protect_reads, Some(false));
        assert_eq!(settings.allow_unauthenticated, Some(true));
        assert!(parse(&["manifold", "verify", "--json=false", "r/x:y"]).is_ok());
        assert!(parse(&["manifold", "copy", "--json=false", "r/x:y", "r/z:y"]).is_ok());
        assert!(parse(&["manifold", "pushml", "--ignore-missing=true", "s.yaml"]).is_ok());
    }

    /// Every boolean flag of every command, found by walking the definition: each takes an
    /// optional `=value`, so a flag added later is covered too.
    #[test]
    fn no_boolean_flag_of_any_command_refuses_a_value() {
        fn walk(cmd: &Command, path: &str, found: &mut Vec<String>) {
            let boolean = clap::value_parser!(bool).type_id();
            for arg in cmd.get_arguments() {
                let valued = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::Set);
                if !valued || arg.get_value_parser().type_id() != boolean {
                    continue;
                }
                let range = arg.get_num_args().expect("built");
                let optional = range.min_values() == 0 && range.max_values() == 1;
                if !(optional && arg.is_require_equals_set()) {
                    found.push(format!("{path} --{}", arg.get_long().unwrap_or_default()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), found);
            }
        }
        let mut refusing = Vec::new();

        walk(&command(), "manifold", &mut refusing);

        assert!(
            refusing.is_empty(),
            "booleans that refuse =false: {refusing:?}"
        );
    }
}
