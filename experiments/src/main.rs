//! The `poolcast` command line: the workbench's entry point.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod simulate;

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
        /// The scenario file (TOML; see experiments/README.md).
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
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(jobs.unwrap_or(0))
                .build()
                .context("could not start worker threads")?;
            pool.install(|| simulate::simulate(&scenario, &out, quiet))
        }
    }
}
