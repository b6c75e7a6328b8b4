//! `wrk` (a load generator written in C) as a second opinion, when it is on PATH: the same
//! connections and duration as [`crate::load::load`], its summary parsed from its output.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::cpu::{self, Cpu};
use crate::load::Measured;
use crate::{CONNECTIONS, DURATION};

/// The same load from `wrk` (2 threads), when it is installed: GET, or POST of `body` as JSON.
pub async fn wrk(url: &str, body: Option<&str>, dir: &Path, cpu: &Cpu) -> Option<Measured> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.args(["-t2", &format!("-c{CONNECTIONS}")])
        .arg(format!("-d{}s", DURATION.as_secs()))
        .arg("--latency")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(body) = body {
        let script = dir.join("post.lua");
        let lua = format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {}\n",
            lua_string(body)
        );
        std::fs::write(&script, lua).expect("write the wrk script");
        cmd.arg("-s").arg(script);
    }
    cmd.arg(url);
    let before = cpu.sample();
    let output = match tokio::time::timeout(DURATION * 4, cmd.output()).await {
        Ok(Ok(output)) if output.status.success() => output,
        Ok(Ok(output)) => {
            eprintln!(
                "wrk failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return None;
        }
        Ok(Err(_)) => return None,
        Err(_) => {
            eprintln!("wrk did not finish");
            return None;
        }
    };
    let cpu = cpu::used(before, cpu.sample());
    let mut measured = parse(&String::from_utf8_lossy(&output.stdout))?;
    measured.cpu = cpu;
    Some(measured)
}

/// wrk's `--latency` report: requests, req/s, errors, p50, p99 and max.
fn parse(text: &str) -> Option<Measured> {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse::<u64>().ok())?;
    let rps: f64 = field("Requests/sec:")?.parse().ok()?;
    let errors = field("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
        + field("Socket errors:")
            .map(|s| {
                s.split(',')
                    .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .unwrap_or(0);
    let max = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Latency") && !l.starts_with("Latency Distribution"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(wrk_ms)?;
    Some(Measured {
        requests,
        errors,
        elapsed: Duration::from_secs_f64(requests as f64 / rps),
        latencies_us: Vec::new(),
        summary_ms: Some((wrk_ms(field("50%")?)?, wrk_ms(field("99%")?)?, max)),
        cpu: (0.0, None),
    })
}

/// `1.23ms`, `456.00us`, `1.50s` → milliseconds.
fn wrk_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        _ => return None,
    })
}

/// A Lua long string holding `text` exactly.
fn lua_string(text: &str) -> String {
    let mut level = 0;
    while text.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{text}]{eq}]")
}
