//! clap definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// skubench: performance and stress benchmarks for new VM SKUs.
///
/// Exit codes: 0 ok, 1 regression or failed spec limit, 2 usage or input
/// error, 3 the run failed or was interrupted.
#[derive(Parser, Debug)]
#[command(name = "skubench", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SKUBENCH_GIT_REV"), ")"))]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a suite (default: suites/quick.toml) or one workload with --key value flags.
    ///
    /// Examples:
    ///   skubench run
    ///   skubench run suites/quick.toml --sku Standard_D2s_v5
    ///   skubench run cpu --stressor int --threads all --duration 10
    ///   skubench run jitter --sleep 1ms --duration 30 --output jitter.json
    Run(RunArgs),
    /// List workloads and their parameters with defaults.
    List,
    /// Print this host's fingerprint.
    Sysinfo {
        /// SKU name to record.
        #[arg(long)]
        sku: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve as the peer of the net.* workloads (until Ctrl-C).
    ///
    /// Binds 127.0.0.1 unless --bind says otherwise; clients authenticate
    /// with the shared token (never sent in clear). Data connections use
    /// ephemeral ports on the bound address.
    ///
    /// Examples:
    ///   skubench serve --token-file /etc/skubench.token
    ///   skubench serve --bind 0.0.0.0 --port 5201 --token s3cret
    Serve(ServeArgs),
    /// Summarise a result file; --hgrm prints a histogram's percentile distribution.
    Show {
        /// Result file.
        result: PathBuf,
        /// Histogram name (or `all`) to print as .hgrm percentile text (values in µs).
        #[arg(long)]
        hgrm: Option<String>,
        /// Run id for --hgrm (default: every run that has the histogram).
        #[arg(long)]
        run: Option<String>,
    },
}

/// Arguments of `skubench run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Suite file (.toml) or workload kind (cpu, jitter, null …). Default: suites/quick.toml.
    pub target: Option<String>,
    /// Result file (default: skubench-results/<UTC time>-<host>.json).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// SKU name recorded in the result (else $SKUBENCH_SKU).
    #[arg(long)]
    pub sku: Option<String>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Workload parameters and run settings as `--key value` (see `skubench list`),
    /// e.g. --threads 2 --duration 5s --repetitions 3.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "--KEY VALUE"
    )]
    pub rest: Vec<String>,
}

/// Arguments of `skubench serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// IP address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Control port.
    #[arg(long, default_value_t = 5201)]
    pub port: u16,
    /// Shared token (visible in `ps`; prefer --token-file or $SKUBENCH_TOKEN).
    #[arg(long, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// File whose first line is the shared token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Sessions served at once; more are refused.
    #[arg(long, default_value_t = 64)]
    pub max_sessions: usize,
    /// Longest test, e.g. 1h or 600 (seconds).
    #[arg(long, default_value = "1h")]
    pub max_duration: String,
    /// Longest silence on a control connection between tests.
    #[arg(long, default_value = "60s")]
    pub idle_timeout: String,
}
