//! CPU time from /proc: the serve process's, and (on PostgreSQL) that of the backends serving the
//! bench's database; the machine's load average.

/// CPU time used so far by the serve process and, on PostgreSQL, by the backends serving one
/// database (from /proc: utime + stime, in USER_HZ = 1/100 s).
#[derive(Clone)]
pub struct Cpu {
    pid: u32,
    /// What the backends' process titles hold: `postgres: …: <user> <database> <client> …`; none
    /// for SQLite, which runs inside the serve process.
    title: Option<String>,
}

impl Cpu {
    /// The serve process `pid` (0: none) and, when given, the PostgreSQL database's backends.
    pub fn new(pid: u32, database: Option<&str>) -> Self {
        Self {
            pid,
            title: database.map(|d| format!(" {d} ")),
        }
    }

    /// Seconds used by (the serve process, the database's backends when there are any).
    pub fn sample(&self) -> (f64, Option<f64>) {
        let serve = if self.pid == 0 {
            0.0
        } else {
            process_cpu(&format!("/proc/{}", self.pid))
        };
        let backends = self.title.as_deref().map(|title| {
            let mut seconds = 0.0;
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                if cmdline.starts_with("postgres: ") && cmdline.contains(title) {
                    seconds += process_cpu(&entry.path().to_string_lossy());
                }
            }
            seconds
        });
        (serve, backends)
    }
}

/// `after - before` of two samples.
pub fn used(before: (f64, Option<f64>), after: (f64, Option<f64>)) -> (f64, Option<f64>) {
    (
        after.0 - before.0,
        after.1.zip(before.1).map(|(a, b)| a - b),
    )
}

/// utime + stime of the process at `dir` (a /proc/<pid> path), in seconds.
fn process_cpu(dir: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat: 11 and 12 counting from 0 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
