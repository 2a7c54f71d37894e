//! skubench's process exit codes, in one place (after nextest's
//! `exit_codes.rs`): the CLI, the gate's decisions and `gate.json` all take
//! them from here, and README.md's "Exit codes" table documents them.
//!
//! The numbers are a contract with pipelines: add new ones, never renumber.

use std::fmt;

/// An exit code of the `skubench` binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SkubenchExitCode {
    /// 0: success; a comparison or a history check found no regression.
    Ok = 0,
    /// 1: a regression, a failed spec limit or a metric missing from the
    /// candidate (comparison commands), or a change-point alert (history).
    Regression = 1,
    /// 2: usage or input error (bad suite, flag, policy, result file, baseline
    /// name or query); nothing was run or overwritten. clap's own usage
    /// errors exit with this code too.
    Usage = 2,
    /// 3: the run failed or was interrupted (SIGINT/SIGTERM), or an I/O or
    /// store operation failed (writing a report or result, a read-only or
    /// unreadable store, the history dataset).
    RunFailed = 3,
    /// 4: the comparison was INCONCLUSIVE: no regression, but some headline
    /// metric could not have shown a threshold-sized shift at these runs
    /// and noise (`gate` policies may map it to 0 or 1).
    Inconclusive = 4,
}

impl SkubenchExitCode {
    /// Every code, in numeric order.
    pub const ALL: [Self; 5] = [
        Self::Ok,
        Self::Regression,
        Self::Usage,
        Self::RunFailed,
        Self::Inconclusive,
    ];

    /// The numeric process exit code.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The code of a number, if it is one of skubench's.
    pub fn from_u8(n: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_u8() == n)
    }

    /// A one-word name, as the README's table says it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Regression => "regression",
            Self::Usage => "usage",
            Self::RunFailed => "run-failed",
            Self::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for SkubenchExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u8(), self.name())
    }
}

impl From<SkubenchExitCode> for std::process::ExitCode {
    fn from(c: SkubenchExitCode) -> Self {
        Self::from(c.as_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_documented_ones_and_round_trip() {
        // Pipelines test these numbers: they must not move.
        let expected = [
            (0, "ok"),
            (1, "regression"),
            (2, "usage"),
            (3, "run-failed"),
            (4, "inconclusive"),
        ];
        for (n, name) in expected {
            let c = SkubenchExitCode::from_u8(n).unwrap();
            assert_eq!((c.as_u8(), c.name()), (n, name));
        }
        assert_eq!(SkubenchExitCode::from_u8(5), None);
    }

    #[test]
    fn the_readme_table_lists_exactly_these_codes() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Exit codes")
            .nth(1)
            .expect("README.md has an `### Exit codes` section");
        let documented: Vec<u8> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.trim_matches('|').split('|').next()?.trim().parse().ok())
            .collect();
        let ours: Vec<u8> = SkubenchExitCode::ALL.iter().map(|c| c.as_u8()).collect();
        assert_eq!(documented, ours);
    }
}
