//! A small file system a test can fill up and free again: a tmpfs of a few MiB mounted on a
//! directory of its own (the suite runs as root, as CI does), unmounted when dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs and the filler file that makes it full.
pub struct SmallDisk {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

impl SmallDisk {
    /// A tmpfs of `mib` MiB. Panics, saying why, where mounting is not allowed (not root).
    pub fn mount(mib: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0755")])
            .arg("manifold-test")
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            mounted.status.success(),
            "cannot mount a tmpfs (the disk-full tests run as root): {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        let filler = dir.path().join("filler");
        Self { dir, filler }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills every free byte with a file of its own; how many bytes that took.
    pub fn fill(&self) -> u64 {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .unwrap();
        let block = vec![0xa5u8; 4096];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc_enospc()) => break,
                Err(e) => panic!("filling the small disk: {e}"),
            }
        }
        let _ = file.flush();
        written
    }

    /// Deletes the filler: the space is free again.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).unwrap();
    }
}

/// `ENOSPC` on Linux.
fn libc_enospc() -> i32 {
    28
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
