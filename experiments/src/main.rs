//! The `poolcast` command line: the workbench's entry point.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// `println!` for the CLI's stdout: a closed pipe (`poolcast … | head`)
/// ends the process quietly, as the signal would a C tool, instead of
/// panicking with a backtrace ([`stdout_write`]).
macro_rules! outln {
    () => {
        $crate::stdout_write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout_write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for the CLI's stdout; see [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout_write(format_args!($($arg)*))
    };
}

mod advise;
mod cache;
mod ceiling;
mod claims;
mod evaluate;
mod forecast;
mod inspect;
mod manifest;
mod merge;
mod metric;
mod overrides;
mod policies;
mod poolfile;
mod run;
mod simjob;
mod simulate;
mod stats;
mod status;
mod train;
mod tune;

/// Poolcast: connection pools that provision ahead of demand.
#[derive(Parser, Debug)]
#[command(name = "poolcast", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate every scenario of a scenario file and write telemetry
    /// Parquet plus summary.json under --out.
    Simulate {
        /// The scenario file (TOML; see docs/reference/scenario.md).
        scenario: PathBuf,
        /// Output directory (created if missing).
        #[arg(long, short)]
        out: PathBuf,
        /// Worker threads (default: all cores). Outputs do not depend on it.
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print every feature with its definition and the definition hash.
    Features {
        /// List the features (the only action).
        #[arg(long)]
        list: bool,
        /// Telemetry interval in seconds the definition is resolved for.
        #[arg(long, default_value_t = 60.0)]
        interval_s: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Build features from telemetry (a run directory from `poolcast
    /// simulate`) or read a features.parquet, then train and compare every
    /// model family beside the baselines and write candidate artifacts.
    Train {
        #[command(flatten)]
        args: train::TrainArgs,
        /// Worker threads (default: all cores). Outputs do not depend on it.
        #[arg(long, short)]
        jobs: Option<usize>,
    },
    /// Run an experiment manifest end to end: simulate training data, build
    /// features, train and compare models, tune thresholds in closed loop,
    /// export artifact.json and pool.toml, compare every policy on held-out
    /// runs and write the report, under --out/<experiment>/<run-id>/.
    Run {
        #[command(flatten)]
        args: run::RunArgs,
        /// Worker threads (default: all cores). Outputs do not depend on it.
        #[arg(long, short)]
        jobs: Option<usize>,
    },
    /// Combine the run directories of `poolcast run --shard i/n` into one;
    /// `poolcast run` then finishes the experiment from them.
    Merge {
        #[command(flatten)]
        args: merge::MergeArgs,
    },
    /// Profile a trace before replaying it: requests, classes, top
    /// statement patterns, arrival rate and concurrency over time, holds,
    /// sessions, errors, and the pool Erlang C asks for; in the terminal
    /// and as one HTML page.
    Inspect {
        #[command(flatten)]
        args: inspect::InspectArgs,
    },
    /// From a trace to the pool to run: split it in time, train and tune
    /// on the first part, compare every policy on the held-out part, and
    /// print the recommended pool.toml with the evidence (waits and
    /// connection-seconds with intervals, what forecasting adds).
    Advise {
        #[command(flatten)]
        args: advise::AdviseArgs,
        /// Worker threads (default: all cores). Outputs do not depend on it.
        #[arg(long, short)]
        jobs: Option<usize>,
    },
    /// Where a run directory of `poolcast run` stands: every step, how
    /// many of its simulations are finished, how far each shard is, and
    /// what is left. Reads only.
    Status {
        #[command(flatten)]
        args: status::StatusArgs,
    },
    /// Export the winning model of a horizon from a `poolcast train` output
    /// directory as the artifact the runtime pool loads.
    Export {
        /// The `poolcast train --out` directory.
        train_dir: PathBuf,
        /// Horizon in intervals.
        #[arg(long)]
        horizon: u32,
        /// Where to write artifact.json.
        #[arg(long, short)]
        out: PathBuf,
    },
}

/// The rayon pool of `--jobs` (0 or absent: all cores).
fn workers(jobs: Option<usize>) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .context("could not start worker threads")
}

/// Writes to stdout. A closed pipe exits with 141 (128 + SIGPIPE, what a
/// shell shows for a tool the signal ended); any other failure to write
/// (a full disk behind a redirect) exits with 1, saying so. The files a
/// run writes are atomic, so stopping here leaves none half-written.
/// Hand-written because Rust ignores SIGPIPE and `println!` panics on a
/// closed pipe; restoring the signal needs `unsafe` FFI, which the
/// workspace denies.
fn stdout_write(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("POOLCAST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate {
            scenario,
            out,
            jobs,
            quiet,
        } => {
            let pool = workers(jobs)?;
            pool.install(|| simulate::simulate(&scenario, &out, quiet))
        }
        Command::Features {
            list,
            interval_s,
            json,
        } => {
            if !list {
                anyhow::bail!("say what to do: `poolcast features --list`");
            }
            train::list_features(interval_s, json)
        }
        Command::Train { args, jobs } => workers(jobs)?.install(|| train::train_cmd(args)),
        Command::Run { args, jobs } => workers(jobs)?.install(|| run::run_cmd(&args).map(|_| ())),
        Command::Merge { args } => merge::merge_cmd(&args).map(|_| ()),
        Command::Inspect { args } => inspect::inspect_cmd(&args),
        Command::Advise { args, jobs } => workers(jobs)?.install(|| advise::advise_cmd(&args)),
        Command::Status { args } => status::status_cmd(&args),
        Command::Export {
            train_dir,
            horizon,
            out,
        } => train::export_cmd(&train_dir, horizon, &out),
    }
}
