//! How a process ended, in words a person reads in a death message.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How a supervised process ended: with an exit code, or killed by a signal.
///
/// `Display` gives the words used in death messages: `exited with code 3`,
/// `killed by signal 9 (SIGKILL)`, `killed by signal 11 (SIGSEGV, core dumped)`.
///
/// # Examples
///
/// ```
/// use arbor_process::Exit;
///
/// assert_eq!(Exit::Code(3).to_string(), "exited with code 3");
/// let killed = Exit::Signal { number: 9, core_dumped: false };
/// assert_eq!(killed.to_string(), "killed by signal 9 (SIGKILL)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// The process exited by itself (or by `exit(2)` after handling a signal) with this code.
    Code(i32),
    /// The process was killed by a signal it did not handle.
    Signal {
        /// The signal number, e.g. 9 for `SIGKILL`.
        number: i32,
        /// Whether the kernel wrote a core dump.
        core_dumped: bool,
    },
}

impl Exit {
    /// Whether the process exited with code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(number)) => Exit::Signal {
                number,
                core_dumped: status.core_dumped(),
            },
            // Stopped or continued statuses are never returned by `wait`; keep a value anyway
            // rather than guess: the raw wait status is what the OS reported.
            (None, None) => Exit::Code(status.into_raw()),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Code(code) => write!(f, "exited with code {code}"),
            Exit::Signal {
                number,
                core_dumped,
            } => {
                write!(f, "killed by signal {number}")?;
                let name = nix::sys::signal::Signal::try_from(number)
                    .ok()
                    .map(|s| s.as_str());
                match (name, core_dumped) {
                    (Some(name), false) => write!(f, " ({name})"),
                    (Some(name), true) => write!(f, " ({name}, core dumped)"),
                    (None, true) => write!(f, " (core dumped)"),
                    (None, false) => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_signals_read_as_words() {
        assert_eq!(Exit::Code(0).to_string(), "exited with code 0");
        assert!(Exit::Code(0).success());
        assert!(!Exit::Code(1).success());
        let segv = Exit::Signal {
            number: 11,
            core_dumped: true,
        };
        assert_eq!(
            segv.to_string(),
            "killed by signal 11 (SIGSEGV, core dumped)"
        );
        let unknown = Exit::Signal {
            number: 200,
            core_dumped: false,
        };
        assert_eq!(unknown.to_string(), "killed by signal 200");
    }

    #[test]
    fn wait_statuses_convert() {
        // Raw wait statuses: code 3 is `3 << 8`; killed by SIGTERM is the signal number.
        assert_eq!(Exit::from(ExitStatus::from_raw(3 << 8)), Exit::Code(3));
        assert_eq!(
            Exit::from(ExitStatus::from_raw(15)),
            Exit::Signal {
                number: 15,
                core_dumped: false
            }
        );
    }
}
