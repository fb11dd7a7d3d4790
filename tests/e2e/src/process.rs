//! A child process in its own process group, whose whole group is ended on stop or drop (so no
//! `workerd` started by wrangler outlives a test).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub(crate) struct GroupProcess {
    child: Option<Child>,
}

impl GroupProcess {
    /// Spawns `command` as the leader of a new process group, stdout and stderr to `log`,
    /// stdin closed.
    pub(crate) fn spawn(mut command: Command, log: &File) -> Self {
        let stdout = log.try_clone().expect("clone the log file handle");
        let stderr = log.try_clone().expect("clone the log file handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot spawn {command:?}: {err}"));
        Self { child: Some(child) }
    }

    /// The leader's exit status if it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGTERM to the group, up to [`GRACE`] for it to go away, then SIGKILL to whatever is left.
    /// Does nothing the second time.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = -(child.id() as libc::pid_t);
        signal(group, libc::SIGTERM);
        let deadline = Instant::now() + GRACE;
        let mut leader_gone = false;
        while Instant::now() < deadline {
            // Reaping the leader lets `kill(group, 0)` see only the other members.
            leader_gone = leader_gone || matches!(child.try_wait(), Ok(Some(_)));
            if leader_gone && !group_alive(group) {
                break;
            }
            thread::sleep(POLL);
        }
        signal(group, libc::SIGKILL);
        let _ = child.wait();
    }
}

impl Drop for GroupProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(group: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names our own group.
    unsafe {
        libc::kill(group, signal);
    }
}

/// Whether any process of the group is still running. Zombies do not count: once their parent
/// is gone they wait for init to reap them, which can take a while, and they hold no sockets.
fn group_alive(group: libc::pid_t) -> bool {
    match std::fs::read_dir("/proc") {
        Ok(entries) => entries
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
            .any(|stat| running_in_group(&stat, -group)),
        // SAFETY: kill(2) with signal 0 only checks whether the group has members.
        Err(_) => unsafe { libc::kill(group, 0) == 0 },
    }
}

/// Reads `/proc/<pid>/stat`: `pid (comm) state ppid pgrp ...`; `comm` may hold spaces and `)`.
fn running_in_group(stat: &str, pgid: libc::pid_t) -> bool {
    let Some((_, after_comm)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = after_comm.split_whitespace();
    let state = fields.next();
    let pgrp = fields
        .nth(1)
        .and_then(|field| field.parse::<libc::pid_t>().ok());
    pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_ends_the_children_of_the_leader_too() {
        let dir = tempfile::tempdir().unwrap();
        let log = File::create(dir.path().join("log")).unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 300 & echo $! ; wait"]);
        let mut process = GroupProcess::spawn(command, &log);
        let group = -(process.child.as_ref().unwrap().id() as libc::pid_t);

        let started = Instant::now();
        while std::fs::read_to_string(dir.path().join("log"))
            .unwrap()
            .is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "sh never started"
            );
            thread::sleep(POLL);
        }
        assert!(process.exited().is_none());
        process.stop();
        assert!(!group_alive(group), "a child of the leader survived");
        process.stop();
    }

    #[test]
    fn reads_state_and_group_from_proc_stat() {
        assert!(running_in_group("42 (node) S 1 42 42 0", 42));
        assert!(running_in_group("43 (a b) c)) R 42 42 42 0", 42));
        assert!(!running_in_group("44 (workerd) Z 1 42 42 0", 42));
        assert!(!running_in_group("45 (sh) S 1 7 7 0", 42));
        assert!(!running_in_group("garbage", 42));
    }
}
