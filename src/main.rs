//! The `skubench` command line: turns flags into library calls and results
//! into exit codes. No measurement or statistics logic lives here.

mod analyse;
mod cli;
mod gate;
mod progress;
mod run;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes (documented in README.md).
pub mod exit {
    /// Success / no regression.
    pub const OK: u8 = 0;
    /// A regression or a failed spec limit.
    pub const REGRESSION: u8 = 1;
    /// Usage or input error.
    pub const USAGE: u8 = 2;
    /// The run failed or was interrupted.
    pub const RUN_FAILED: u8 = 3;
    /// The comparison was inconclusive: no regression found, but some
    /// headline metric could not have shown a threshold-sized shift.
    pub const INCONCLUSIVE: u8 = 4;
}

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Exit {}

/// Input/usage error (exit 2).
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Exit(exit::USAGE, msg.into()).into()
}

/// Colour only on a terminal and when `NO_COLOR` is unset.
pub fn color_wanted(to_stdout: bool) -> bool {
    use std::io::IsTerminal;
    to_stdout && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e.downcast_ref::<Exit>().map_or(exit::USAGE, |x| x.0);
            eprintln!("skubench: error: {e:#}");
            ExitCode::from(code)
        }
    }
}
