//! Where the command line and the service log: stderr, at `info` (`--debug`: every registry
//! request; `-q`: errors only; `MANIFOLD_LOG`: any `tracing` filter), as text — with timestamps for
//! `serve`, without for the one-shot commands — or as JSON lines with timestamps
//! (`MANIFOLD_LOG_FORMAT=json`), each line with the fields of its spans: an HTTP request's
//! (`request_id`, also its `X-Request-Id`), a job's (`list_id`, `job_id`, `attempt`, `target`), a
//! registry request's (`method`, `registry`, `path`, `status`, `ms`).

use tracing_subscriber::EnvFilter;

/// How much to log, as the global flags say.
#[derive(Debug, Clone, Copy)]
pub(super) struct Verbosity {
    /// `--debug`.
    pub debug: bool,
    /// `-q`.
    pub quiet: bool,
}

/// Installs the logger; `serve` logs with timestamps.
pub(super) fn init(verbosity: Verbosity, serve: bool) {
    let default = match (verbosity.debug, verbosity.quiet) {
        (true, _) => "manifold=debug",
        (false, true) => "manifold=error",
        (false, false) => "manifold=info",
    };
    let filter =
        EnvFilter::try_from_env("MANIFOLD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let json = std::env::var("MANIFOLD_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let text = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        // Each line carries the fields of the spans it was logged in (the request, the job, the
        // registry request), outermost first.
        text.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init()
    } else if serve {
        text.with_ansi(is_terminal()).try_init()
    } else {
        text.with_ansi(is_terminal()).without_time().try_init()
    };
}

fn is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}
