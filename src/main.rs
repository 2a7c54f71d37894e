//! The `skubench` command line: turns flags into library calls and results
//! into exit codes. No measurement or statistics logic lives here.

mod analyse;
mod cli;
mod common;
mod gate;
mod progress;
mod run;

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bench_core::runner::Runner;
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::common::{detect_host, Exit};
use skubench_ci::exit_codes::SkubenchExitCode;

fn main() -> ExitCode {
    let line = cli::prepare_command_line(std::env::args_os().collect());
    if let Some(text) = line.help_for.as_deref().and_then(run::workload_help) {
        print!("{text}");
        return SkubenchExitCode::Ok.into();
    }
    let cli = Cli::parse_from(line.args);
    match dispatch(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            // Every input error is typed as a usage error where it is found;
            // anything untyped is a failed operation (I/O, serialisation).
            let code = e
                .downcast_ref::<Exit>()
                .map_or(SkubenchExitCode::RunFailed, |x| x.0);
            eprintln!("skubench: error: {e:#}");
            code.into()
        }
    }
}

/// Runs the parsed command; returns the exit code.
fn dispatch(cli: Cli) -> anyhow::Result<SkubenchExitCode> {
    if matches!(
        cli.command,
        Command::List | Command::Sysinfo { .. } | Command::Show { .. }
    ) {
        // These only print: `skubench show r.json | head` should end as
        // `cat` does when the reader leaves, not panic in println!. Not
        // for commands that write files or serve sockets (std's sockets
        // already send with MSG_NOSIGNAL).
        // SAFETY: setting a signal's disposition to the default has no
        // preconditions; no handler is installed.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::List => {
            print!("{}", reports::show::workload_list(&workloads::registry()));
            Ok(SkubenchExitCode::Ok)
        }
        Command::Sysinfo { sku, json } => {
            let h = detect_host(sku, &Runner::new(Arc::new(AtomicBool::new(false))))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                print!("{}", reports::show::sysinfo(&h));
            }
            Ok(SkubenchExitCode::Ok)
        }
        Command::Report {
            results,
            format,
            output_dir,
        } => run::report(&results, &format, output_dir.as_deref()),
        Command::Show { result, hgrm, run } => run::show(&result, hgrm.as_deref(), run.as_deref()),
        Command::Gate(g) => gate::gate(g),
        Command::Store { store, cmd } => analyse::store(&store.store, cmd),
        Command::Baseline { store, cmd } => analyse::baseline(&store.store, cmd),
        Command::Compare {
            base,
            cand,
            spec,
            policy,
            format,
            output_dir,
            include_disturbed,
            store,
        } => analyse::compare(analyse::CompareArgs {
            base,
            cand,
            spec,
            policy,
            formats: format,
            output_dir,
            include_disturbed,
            store: store.store,
        }),
        Command::History {
            sku,
            distro,
            metric,
            workload,
            latest,
            p,
            window,
            floor,
            include_disturbed,
            json,
            output_dir,
            store,
        } => analyse::history(
            &store.store,
            baselines::history::HistoryQuery {
                sku,
                distro,
                metric,
                workload,
                include_disturbed,
            },
            baselines::changepoint::CpConfig {
                p_value: p,
                window,
                magnitude_floor: floor,
                ..Default::default()
            },
            latest,
            json,
            output_dir.as_deref(),
        ),
        Command::Import {
            tool,
            file,
            output,
            sku,
            distro,
            hostname,
        } => analyse::import(&tool, &file, output, sku, distro, hostname),
        Command::Serve(a) => run::serve(a),
        Command::Matrix {
            tag,
            baseline,
            spec,
            policy,
            format,
            output_dir,
            include_disturbed,
            store,
        } => analyse::matrix(analyse::MatrixArgs {
            tag,
            baseline,
            spec,
            policy,
            formats: format,
            output_dir,
            include_disturbed,
            store: store.store,
        }),
    }
}
