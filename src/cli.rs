//! clap definitions.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};

/// skubench: performance and stress benchmarks for new VM SKUs.
///
/// Exit codes: 0 ok, 1 regression or failed spec limit, 2 usage or input
/// error, 3 the run failed or was interrupted (or an I/O or store operation
/// failed), 4 the comparison was inconclusive.
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
    /// Keep results in the store.
    Store {
        /// Store location.
        #[command(flatten)]
        store: StoreArg,
        /// What to do.
        #[command(subcommand)]
        cmd: StoreCmd,
    },
    /// Named baselines in the store.
    Baseline {
        /// Store location.
        #[command(flatten)]
        store: StoreArg,
        /// What to do.
        #[command(subcommand)]
        cmd: BaselineCmd,
    },
    /// Compare a candidate with a baseline: per metric n, median, ratio with its
    /// interval, p-value and verdict. Exit 1 on a regression or a failed spec limit.
    ///
    /// Each side is result files (comma-separated, or a directory of them), a
    /// baseline name, or a store query (`sku=…,distro=…,last=N`).
    Compare {
        /// Baseline side.
        base: String,
        /// Candidate side.
        cand: String,
        /// SKU spec limits (TOML).
        #[arg(long)]
        spec: Option<PathBuf>,
        /// Policy: thresholds and alpha (TOML).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Output formats, comma-separated.
        #[arg(
            long,
            default_value = "terminal",
            value_delimiter = ',',
            value_parser = FormatParser(Format::COMPARISON)
        )]
        format: Vec<Format>,
        /// Write each format to a file in this directory (comparison.txt,
        /// .md, .html, .json, .xml) instead of stdout.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Keep runs flagged `disturbed`.
        #[arg(long)]
        include_disturbed: bool,
        /// Store location (for baseline names and queries).
        #[command(flatten)]
        store: StoreArg,
    },
    /// Per-metric history from the store with change points (E-divisive + t-test).
    History {
        /// SKU.
        #[arg(long)]
        sku: Option<String>,
        /// Distro ID.
        #[arg(long)]
        distro: Option<String>,
        /// Metric name or glob (`disk.*.iops`).
        #[arg(long)]
        metric: Option<String>,
        /// Workload label.
        #[arg(long)]
        workload: Option<String>,
        /// Alert only on change points among the latest K runs.
        #[arg(long, default_value_t = 5)]
        latest: usize,
        /// t-test significance threshold.
        #[arg(long, default_value_t = 0.001)]
        p: f64,
        /// Window of points around a candidate.
        #[arg(long, default_value_t = 50)]
        window: usize,
        /// Smallest relative change reported.
        #[arg(long, default_value_t = 0.02)]
        floor: f64,
        /// Keep runs flagged `disturbed`.
        #[arg(long)]
        include_disturbed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Write history.txt, .json, .html (plots with change points), .md
        /// and .xml (JUnit: a failure per alert) into this directory.
        #[arg(long, conflicts_with = "json")]
        output_dir: Option<PathBuf>,
        /// Store location.
        #[command(flatten)]
        store: StoreArg,
    },
    /// Convert a peer tool's JSON output into a result file.
    Import {
        /// fio (json / json+) or iperf3 (-J).
        #[arg(value_parser = ["fio", "iperf3"])]
        tool: String,
        /// The peer's output file.
        file: PathBuf,
        /// Result file to write (default: next to the input, .skubench.json).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// SKU of the machine that produced it.
        #[arg(long)]
        sku: Option<String>,
        /// Distro ID of that machine.
        #[arg(long)]
        distro: Option<String>,
        /// Host name of that machine.
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Pipeline gate: run a suite, store the results, compare with a baseline
    /// (or the history), write every report, exit 0 pass / 1 regression or
    /// spec failure / 2 input error / 3 the run failed or was interrupted /
    /// 4 inconclusive.
    ///
    /// Inconclusive metrics get more repetitions of just their workloads,
    /// up to the policy's max_repetitions.
    Gate(GateArgs),
    /// Report single runs without a baseline: each metric's median and range,
    /// latency percentiles, and in HTML percentile plots and per-interval series.
    ///
    /// Examples:
    ///   skubench report run.json --format markdown
    ///   skubench report a.json b.json --format markdown,html,json --output-dir report/
    Report {
        /// Result files.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Output formats, comma-separated.
        #[arg(
            long,
            default_value = "terminal",
            value_delimiter = ',',
            value_parser = FormatParser(Format::REPORT)
        )]
        format: Vec<Format>,
        /// Write each format to a file in this directory (report.txt, .md,
        /// .html, .json) instead of stdout.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// Serve as the peer of the net.* workloads (until Ctrl-C).
    ///
    /// Binds 127.0.0.1 unless --bind says otherwise; clients authenticate
    /// with the shared token (never sent in clear). Data connections use
    /// ephemeral ports on the bound address, or --data-ports.
    ///
    /// Examples:
    ///   skubench serve --token-file /etc/skubench.token
    ///   skubench serve --bind 0.0.0.0 --port 5201 --token s3cret
    ///   skubench serve --bind 0.0.0.0 --data-ports 5202-5210 --token-file t
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

/// An output format of `compare`, `gate` and `report`. Each command accepts
/// the formats it can write ([`Format::COMPARISON`], [`Format::REPORT`]); any
/// other is refused by clap with the list of those it supports.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A text table (colour only on a terminal); also `text`.
    #[value(alias = "text")]
    Terminal,
    /// Markdown for pipeline summaries and PR comments; also `md`.
    #[value(alias = "md")]
    Markdown,
    /// One self-contained HTML page with SVG plots.
    Html,
    /// JSON (schema/comparison.v1.schema.json, or the runs summary).
    Json,
    /// JUnit XML, one test case per metric; also `xml`.
    #[value(alias = "xml")]
    Junit,
}

impl Format {
    /// What `compare` and `gate` write: every format.
    pub const COMPARISON: &'static [Format] = &[
        Format::Terminal,
        Format::Markdown,
        Format::Html,
        Format::Json,
        Format::Junit,
    ];
    /// What `report` writes: single runs have no verdicts for JUnit.
    pub const REPORT: &'static [Format] = &[
        Format::Terminal,
        Format::Markdown,
        Format::Html,
        Format::Json,
    ];

    /// Extension of the file a format is written to with `--output-dir`.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Terminal => "txt",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
            Format::Junit => "xml",
        }
    }
}

/// Parses `--format` values, accepting only the formats a command supports
/// (and their aliases), so `--help` and the error for another list exactly
/// those.
#[derive(Clone, Copy, Debug)]
pub struct FormatParser(pub &'static [Format]);

impl FormatParser {
    fn values(&self) -> impl Iterator<Item = PossibleValue> + '_ {
        self.0.iter().filter_map(|f| f.to_possible_value())
    }
}

impl TypedValueParser for FormatParser {
    type Value = Format;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Format, clap::Error> {
        let name = PossibleValuesParser::new(self.values()).parse_ref(cmd, arg, value)?;
        // The name (or alias) was one of ours: it maps back to its variant.
        Format::from_str(&name, false)
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.values()))
    }
}

/// Where the result store lives.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArg {
    /// Result store directory.
    #[arg(long, env = "SKUBENCH_STORE", default_value = "skubench-store")]
    pub store: PathBuf,
}

/// `skubench store …`
#[derive(Subcommand, Debug)]
pub enum StoreCmd {
    /// Add result files to the store (content-addressed; never overwritten).
    Add {
        /// Result files.
        #[arg(required = true)]
        results: Vec<PathBuf>,
    },
    /// List stored results.
    List,
    /// Merge the per-result history files into one (faster history queries).
    Compact,
}

/// `skubench baseline …`
#[derive(Subcommand, Debug)]
pub enum BaselineCmd {
    /// Save a named baseline from result files or a store query.
    Save {
        /// Baseline name (letters, digits, `.`, `_`, `-`).
        name: String,
        /// Result files (added to the store).
        #[arg(long, num_args = 1.., conflicts_with = "query")]
        from: Vec<PathBuf>,
        /// Store query, e.g. `sku=Standard_D2s_v5,distro=ubuntu,last=5`.
        #[arg(long)]
        query: Option<String>,
        /// Overwrite an existing baseline of that name.
        #[arg(long)]
        replace: bool,
    },
    /// List baselines.
    List,
    /// Show a baseline's results.
    Show {
        /// Baseline name.
        name: String,
    },
}

/// Arguments of `skubench gate`.
#[derive(clap::Args, Debug)]
pub struct GateArgs {
    /// Suite file.
    #[arg(long)]
    pub suite: PathBuf,
    /// Baseline: a name in the store, result files, or a store query.
    #[arg(long, required_unless_present = "history", conflicts_with = "history")]
    pub baseline: Option<String>,
    /// Compare against the store's history (change points among the latest runs).
    #[arg(long)]
    pub history: bool,
    /// With --history: alert on change points among the latest K runs.
    #[arg(long, default_value_t = 5)]
    pub latest: usize,
    /// SKU spec limits (TOML).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Policy: thresholds, alpha, repetitions (TOML).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Where reports, result files and the gate summary go.
    #[arg(long)]
    pub report_dir: PathBuf,
    /// SKU name recorded (`auto`: ask the instance metadata service).
    #[arg(long)]
    pub sku: Option<String>,
    /// Repetitions of the first round (default: the policy's).
    #[arg(long)]
    pub repetitions: Option<u32>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Store location.
    #[command(flatten)]
    pub store: StoreArg,
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
    /// Run a fio job file (the options skubench supports; any other is an error naming it).
    #[arg(long, value_name = "JOB.fio", conflicts_with = "target")]
    pub fio: Option<PathBuf>,
    /// Allow writing to a block device or to a file skubench did not create.
    #[arg(long)]
    pub allow_destructive: bool,
    /// Runs of each workload (overrides the suite).
    #[arg(long, value_name = "N")]
    pub repetitions: Option<String>,
    /// Measured phase per step (overrides the suite), e.g. 5s.
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// Warm-up per step (overrides the suite), e.g. 1s.
    #[arg(long, value_name = "D")]
    pub warmup: Option<String>,
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
    /// Ports for data connections, e.g. 5202-5210 (one per running test),
    /// for firewalls that open a fixed range; default: ephemeral ports.
    #[arg(long, value_name = "A-B")]
    pub data_ports: Option<String>,
}
