//! clap definitions.

use std::ffi::{OsStr, OsString};
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
    #[command(verbatim_doc_comment)]
    /// Run a suite (default: suites/quick.toml) or one workload with --key value flags.
    ///
    /// Examples:
    ///   skubench run
    ///   skubench run suites/quick.toml --sku Standard_D2s_v5
    ///   skubench run cpu --stressor int --threads all --duration 10
    ///   skubench run jitter --sleep 1ms --duration 30 --output jitter.json -q
    ///   skubench run disk --help        (the workload's parameters and defaults)
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
    /// One onboarding as a matrix: the results of `--tag` by SKU × distro,
    /// each cell gated against the baseline and the spec limits, the spread
    /// of each headline metric across distros and whether one distro is
    /// significantly slower than the rest. Exit 1 when a cell fails, 4 when
    /// one is inconclusive.
    Matrix {
        /// The onboarding's tag (`run`/`gate --tag`).
        #[arg(long, value_parser = parse_tag)]
        tag: String,
        /// Baseline every cell is compared with: a name in the store, result
        /// files, or a store query.
        #[arg(long)]
        baseline: Option<String>,
        /// SKU spec limits (TOML).
        #[arg(long)]
        spec: Option<PathBuf>,
        /// Policy: thresholds and alpha (TOML).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Output formats, comma-separated.
        #[arg(
            long,
            default_value = "markdown",
            value_delimiter = ',',
            value_parser = FormatParser(Format::MATRIX)
        )]
        format: Vec<Format>,
        /// Write matrix.{html,md,json,xml} here, and each cell's comparison
        /// under cells/<sku>__<distro>/, instead of stdout.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Keep runs flagged `disturbed`.
        #[arg(long)]
        include_disturbed: bool,
        /// Store location.
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
    #[command(verbatim_doc_comment)]
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
    #[command(verbatim_doc_comment)]
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
    /// What `matrix` writes: one page, no terminal table.
    pub const MATRIX: &'static [Format] =
        &[Format::Markdown, Format::Html, Format::Json, Format::Junit];
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
    /// Result store: a directory, `file://DIR`, `az://CONTAINER/PREFIX` or
    /// `s3://BUCKET/PREFIX` (credentials and endpoints from the cloud's
    /// standard environment, never the URL); before or after a
    /// `store`/`baseline` subcommand.
    #[arg(
        long,
        env = "SKUBENCH_STORE",
        default_value = "skubench-store",
        global = true,
        value_name = "DIR|URL"
    )]
    pub store: String,
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
    /// Check every stored result: its bytes hash to its id, it parses, its
    /// history rows are there (exit 3 when one is damaged).
    Verify,
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
    /// Onboarding tag recorded in every result of this gate (`skubench
    /// matrix --tag` selects by it): letters, digits, `.`, `_`, `-`.
    #[arg(long, value_name = "NAME", value_parser = parse_tag)]
    pub tag: Option<String>,
    /// Repetitions of the first round (default: the policy's).
    #[arg(long, value_name = "N", value_parser = parse_repetitions)]
    pub repetitions: Option<u32>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// No eBPF attribution (block, run-queue and TCP RTT histograms; on by
    /// default where it can run: root, tracefs). The rest of attribution
    /// (scheduler, pressure, interrupts, stack counters) stays.
    #[arg(long)]
    pub no_ebpf: bool,
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
    /// Onboarding tag recorded in the result (`skubench matrix --tag`
    /// selects by it): letters, digits, `.`, `_`, `-`.
    #[arg(long, value_name = "NAME", value_parser = parse_tag)]
    pub tag: Option<String>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run a fio job file (the options skubench supports; any other is an error naming it).
    #[arg(long, value_name = "JOB.fio", conflicts_with = "target")]
    pub fio: Option<PathBuf>,
    /// Allow writing to a block device or to a file skubench did not create.
    #[arg(long)]
    pub allow_destructive: bool,
    /// No eBPF attribution (block, run-queue and TCP RTT histograms; on by
    /// default where it can run: root, tracefs). The rest of attribution
    /// (scheduler, pressure, interrupts, stack counters) stays.
    #[arg(long)]
    pub no_ebpf: bool,
    /// Runs of each workload (overrides the suite).
    #[arg(long, value_name = "N", value_parser = parse_repetitions)]
    pub repetitions: Option<u32>,
    /// Measured phase per step (overrides the suite), e.g. 5s.
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// Warm-up per step (overrides the suite), e.g. 1s.
    #[arg(long, value_name = "D")]
    pub warmup: Option<String>,
    /// Workload parameters as `--key value` (see `skubench list`, or
    /// `skubench run KIND --help`), e.g. --threads 2. The options above may
    /// come before or after the target and its parameters.
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

/// `--repetitions` of `run` and `gate`, read by the one parser of a
/// repetition count ([`bench_core::suite::parse_repetitions`]).
pub fn parse_repetitions(v: &str) -> Result<u32, String> {
    bench_core::suite::parse_repetitions(v).map_err(|e| e.to_string())
}

/// An onboarding tag: the characters of a baseline name.
pub fn parse_tag(v: &str) -> Result<String, String> {
    if baselines::store::valid_name(v) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "`{v}`: use letters, digits, `.`, `_`, `-` (at most 100, not starting with `.`)"
        ))
    }
}

/// A `skubench` command line made ready for clap: the options of `run`
/// given after its target are moved before it (clap would take them for
/// workload parameters), and a `--help` after a target is kept aside.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandLine {
    /// The arguments for clap.
    pub args: Vec<OsString>,
    /// `run TARGET … --help`: the target whose help was asked for.
    pub help_for: Option<String>,
}

/// Prepares `argv` (program name first) for [`Cli`]: see [`CommandLine`].
/// Which tokens are options of `run`, and which of them take a value, is
/// read from the clap definition, so the two cannot disagree. Everything
/// after a bare `--` stays as it is.
pub fn prepare_command_line(argv: Vec<OsString>) -> CommandLine {
    let unchanged = |args| CommandLine {
        args,
        help_for: None,
    };
    if argv.get(1).and_then(|a| a.to_str()) != Some("run") {
        return unchanged(argv);
    }
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let Some(run) = cmd.find_subcommand("run") else {
        return unchanged(argv);
    };
    // (takes a value) of a run option token, `None` when it is not one.
    let option = |tok: &str| -> Option<bool> {
        let arg = if let Some(long) = tok.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(n, _)| n);
            run.get_arguments().find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&name))
            })?
        } else {
            let mut chars = tok.strip_prefix('-')?.chars();
            let c = chars.next()?;
            run.get_arguments().find(|a| {
                a.get_short_and_visible_aliases()
                    .is_some_and(|s| s.contains(&c))
            })?
        };
        let inline = tok.contains('=') || (!tok.starts_with("--") && tok.len() > 2);
        Some(arg.get_action().takes_values() && !inline)
    };
    // The target: the first token that is neither an option nor its value.
    let mut i = 2;
    let target = loop {
        let Some(tok) = argv.get(i).and_then(|a| a.to_str()) else {
            return unchanged(argv);
        };
        if tok == "--" {
            return unchanged(argv);
        }
        match option(tok) {
            Some(takes_value) => i += 1 + usize::from(takes_value),
            None if tok.starts_with('-') => i += 1,
            None => break i,
        }
    };
    let mut hoisted = Vec::new();
    let mut rest = Vec::new();
    let mut help = false;
    let mut j = target + 1;
    while j < argv.len() {
        let tok = argv[j].to_str().unwrap_or("");
        if tok == "--" {
            rest.extend_from_slice(&argv[j..]);
            break;
        }
        if tok == "--help" || tok == "-h" {
            help = true;
            j += 1;
            continue;
        }
        match option(tok) {
            Some(takes_value) => {
                let end = (j + 1 + usize::from(takes_value)).min(argv.len());
                hoisted.extend_from_slice(&argv[j..end]);
                j = end;
            }
            None => {
                rest.push(argv[j].clone());
                j += 1;
            }
        }
    }
    let help_for = help.then(|| argv[target].to_string_lossy().into_owned());
    let mut args = argv[..target].to_vec();
    if help {
        // Without a workload of that name the caller shows `run --help`.
        args.push("--help".into());
    }
    args.extend(hoisted);
    args.push(argv[target].clone());
    args.extend(rest);
    CommandLine { args, help_for }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(line: &str) -> (Vec<String>, Option<String>) {
        let argv = line.split(' ').map(OsString::from).collect();
        let c = prepare_command_line(argv);
        let args = c.args.iter().map(|a| a.to_string_lossy().into_owned());
        (args.collect(), c.help_for)
    }

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn run_options_after_the_target_move_before_it_with_their_values() {
        let (args, help) =
            prepared("skubench run disk --bs 4k -q --output r.json --iodepth 8 --sku=S -o x");
        assert_eq!(
            args,
            words("skubench run -q --output r.json --sku=S -o x disk --bs 4k --iodepth 8")
        );
        assert_eq!(help, None);
        // Options before the target, and their values, are not the target.
        let (args, _) = prepared("skubench run --sku S --repetitions 2 cpu --threads 1 --warmup 0");
        assert_eq!(
            args,
            words("skubench run --sku S --repetitions 2 --warmup 0 cpu --threads 1")
        );
    }

    #[test]
    fn help_after_a_target_is_kept_aside_and_other_lines_are_unchanged() {
        let (args, help) = prepared("skubench run disk --bs 4k --help");
        assert_eq!(help.as_deref(), Some("disk"));
        assert_eq!(args, words("skubench run --help disk --bs 4k"));
        for line in [
            "skubench compare a.json b.json -q",
            "skubench run",
            "skubench run -q",
            "skubench run null -- -q",
        ] {
            assert_eq!(prepared(line), (words(line), None), "{line}");
        }
    }

    #[test]
    fn every_repetitions_flag_has_one_range() {
        assert_eq!(parse_repetitions("7"), Ok(7));
        assert_eq!(
            parse_repetitions("10000"),
            Ok(bench_core::suite::MAX_REPETITIONS)
        );
        for bad in ["0", "10001", "-1", "three", ""] {
            let e = parse_repetitions(bad).unwrap_err();
            assert!(
                e.contains("1..=10000") && e.contains(&format!("`{bad}`")),
                "{e}"
            );
        }
    }
}
