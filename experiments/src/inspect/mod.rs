//! `poolcast inspect`: a profile of a trace before anyone replays it, in
//! the terminal and as one self-contained HTML page.
//!
//! The trace is read once, streaming: a PostgreSQL log in any form or
//! OpenTelemetry spans (through `poolcast_datasets::stream_logs`), a trace
//! recorder's files, or a simulator's `requests.parquet`. Memory does not
//! grow with its size ([`profiler`]).

mod profiler;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use poolcast_datasets::pglog::whole_second_times as whole_seconds;
use poolcast_datasets::{LogFormat, Logged, stream_logs};
use poolcast_reports::trace::{Throughput, render_trace};

use profiler::Profiler;

/// Options of `poolcast inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A PostgreSQL log (csvlog, jsonlog, stderr), an OTLP/JSON span
    /// export, a directory of them, a trace recorder directory, or a
    /// requests.parquet.
    pub trace: PathBuf,
    /// The form of a log: csvlog, jsonlog, stderr or otlp (default: found
    /// from each file).
    #[arg(long)]
    pub format: Option<String>,
    /// The server's log_line_prefix, for a stderr log.
    #[arg(long)]
    pub log_line_prefix: Option<String>,
    /// The mean acquire wait the pool sizing aims at, in ms.
    #[arg(long, default_value_t = 5.0)]
    pub wait_target_ms: f64,
    /// Where to write the HTML page (default: `<trace name>.inspect.html`
    /// in the current directory).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Also write the profile as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Rows of the top-pattern tables.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// What the trace's files are.
enum Input {
    /// Server logs or OTLP spans, read by the datasets crate's log reader.
    Logs(Vec<PathBuf>, LogFormat),
    /// Trace recorder `requests-*.csv` files, in order.
    Recorder(Vec<PathBuf>),
    /// A simulator's `requests.parquet`.
    Parquet(PathBuf),
}

/// A trace's profile and where its replay time starts.
pub(crate) struct Profiled {
    /// The profile.
    pub profile: poolcast_reports::trace::TraceProfile,
    /// Replay time of the first arrival, s: 0 for a log or spans (a
    /// replay counts from their first request), the recorded time for a
    /// recorder trace or a requests.parquet.
    pub origin_s: f64,
}

/// Reads `trace` once and profiles it, the form named by `format` and
/// `prefix` (None: found from each file), sized for `wait_target_ms`.
///
/// # Errors
/// The trace cannot be read, is malformed, or holds no request.
pub(crate) fn profile(
    trace: &Path,
    format: Option<&str>,
    prefix: Option<&str>,
    wait_target_ms: f64,
    top: usize,
) -> Result<Profiled> {
    if !(wait_target_ms.is_finite() && wait_target_ms >= 0.0) {
        bail!("--wait-target-ms: expected a number of ms at least 0, found {wait_target_ms}");
    }
    let format = log_format(format, prefix)?;
    let input = input(trace, format)?;
    let files: Vec<PathBuf> = match &input {
        Input::Logs(f, _) | Input::Recorder(f) => f.clone(),
        Input::Parquet(p) => vec![p.clone()],
    };
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let started = Instant::now();
    let mut prof = Profiler::new();
    let (format, skipped, unfinished, origin) = read(&input, &mut prof)?;
    let origin_s = match input {
        Input::Logs(..) => 0.0,
        Input::Recorder(_) | Input::Parquet(_) => prof.first_ns().unwrap_or(0) as f64 / 1e9,
    };
    let mut p = prof.finish(wait_target_ms, top);
    p.throughput = Throughput {
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    if p.requests == 0 {
        bail!(
            "{}: no request in it (a server log needs log_min_duration_statement = 0, or \
             log_statement = 'all' with log_duration = on; spans need PostgreSQL client spans)",
            trace.display()
        );
    }
    p.files = files.iter().map(|f| f.display().to_string()).collect();
    p.caveats = caveats(&format);
    if whole_seconds(&format) {
        // Arrivals within a second are out of order by up to a second:
        // counting who holds a connection at each arrival means nothing.
        p.series.busy_peak.clear();
        p.sizing.busy_peak = f64::NAN;
    }
    p.format = format;
    p.skipped = skipped;
    p.unfinished = unfinished;
    p.first = origin;
    Ok(Profiled {
        profile: p,
        origin_s,
    })
}

/// `poolcast inspect`.
pub fn inspect_cmd(a: &InspectArgs) -> Result<()> {
    let p = profile(
        &a.trace,
        a.format.as_deref(),
        a.log_line_prefix.as_deref(),
        a.wait_target_ms,
        a.top,
    )?
    .profile;
    let rendered = render_trace(&p).context("drawing the profile's charts")?;
    out!("{}", rendered.text);
    let html = a.html.clone().unwrap_or_else(|| default_html(&a.trace));
    poolcast_datasets::write_atomic(&html, rendered.html.as_bytes())
        .with_context(|| format!("writing {}", html.display()))?;
    outln!("\nwrote {}", html.display());
    if let Some(j) = &a.json {
        let text = serde_json::to_string_pretty(&p)?;
        poolcast_datasets::write_atomic(j, text.as_bytes())
            .with_context(|| format!("writing {}", j.display()))?;
        outln!("wrote {}", j.display());
    }
    Ok(())
}

/// `<trace name>.inspect.html` in the current directory.
fn default_html(trace: &Path) -> PathBuf {
    let name = trace
        .file_name()
        .map_or_else(|| "trace".into(), |n| n.to_string_lossy().into_owned());
    PathBuf::from(format!("{name}.inspect.html"))
}

/// The log form named by `--format` and `--log-line-prefix`.
fn log_format(format: Option<&str>, prefix: Option<&str>) -> Result<LogFormat> {
    if let Some(p) = prefix {
        poolcast_datasets::pglog::stderr::Prefix::new(p)
            .map_err(|m| anyhow::anyhow!("--log-line-prefix: {m}"))?;
    }
    Ok(match (format, prefix) {
        (None, None) => LogFormat::Auto,
        (None | Some("stderr"), p) => LogFormat::Stderr(p.map(str::to_string)),
        (Some("csvlog"), None) => LogFormat::Csv,
        (Some("jsonlog"), None) => LogFormat::Json,
        (Some("otlp"), None) => LogFormat::OtlpSpans,
        (Some(f @ ("csvlog" | "jsonlog" | "otlp")), Some(_)) => {
            bail!("--log-line-prefix: a {f} has none; give it only with --format stderr")
        }
        (Some(other), _) => bail!(
            "--format: expected csvlog, jsonlog, stderr or otlp, found {:?}",
            other.chars().take(40).collect::<String>()
        ),
    })
}

/// Where the requests of `trace` are (the rules of a replay's `trace`).
fn input(trace: &Path, format: LogFormat) -> Result<Input> {
    let meta = std::fs::metadata(trace).with_context(|| format!("{}", trace.display()))?;
    if !meta.is_dir() {
        if trace.extension().is_some_and(|e| e == "parquet") {
            return Ok(Input::Parquet(trace.to_path_buf()));
        }
        let mut first = String::new();
        {
            use std::io::BufRead;
            let f = std::fs::File::open(trace).with_context(|| format!("{}", trace.display()))?;
            // A header line, bounded: a file without newlines is not read whole.
            let _ = std::io::BufReader::new(std::io::Read::take(f, 64 << 10)).read_line(&mut first);
        }
        if poolcast_datasets::trace::recorder_header_columns(&first).is_some() {
            return Ok(Input::Recorder(vec![trace.to_path_buf()]));
        }
        return Ok(Input::Logs(vec![trace.to_path_buf()], format));
    }
    let files = |want: &dyn Fn(&str) -> bool| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(trace)
            .with_context(|| format!("{}", trace.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(want))
            .collect();
        v.sort();
        Ok(v)
    };
    let recorder = files(&|n: &str| n.starts_with("requests-") && n.ends_with(".csv"))?;
    if !recorder.is_empty() {
        return Ok(Input::Recorder(recorder));
    }
    for ext in [".csv", ".json", ".log", ".jsonl"] {
        let logs = files(&|n: &str| n.ends_with(ext))?;
        if !logs.is_empty() {
            return Ok(Input::Logs(logs, format));
        }
    }
    bail!(
        "{}: no requests-*.csv, *.csv, *.json, *.log or *.jsonl in this directory",
        trace.display()
    )
}

/// Reads the input into `prof`: the form described, lines skipped,
/// requests unfinished, and the time of the first arrival.
fn read(input: &Input, prof: &mut Profiler) -> Result<(String, u64, u64, String)> {
    match input {
        Input::Logs(files, format) => {
            let mut first: Option<i64> = None;
            let summary = stream_logs(files, format, &mut |l: Logged<'_>| {
                first = Some(first.map_or(l.start_ns, |f| f.min(l.start_ns)));
                prof.add(l.start_ns, &l.record, l.statement);
            })?;
            let origin = first.map_or_else(String::new, poolcast_datasets::pglog::format_epoch_ns);
            Ok((summary.format, summary.skipped, summary.unfinished, origin))
        }
        Input::Recorder(files) => {
            for f in files {
                for r in poolcast_datasets::RecorderRequests::open(f)? {
                    let r = r?;
                    prof.add(i64::try_from(r.arrival_ns).unwrap_or(i64::MAX), &r, "");
                }
            }
            Ok((
                "trace recorder requests (no statement text: patterns by hash)".into(),
                0,
                0,
                "0 s (recorder time)".into(),
            ))
        }
        Input::Parquet(p) => {
            for r in poolcast_datasets::RecordReader::open(p)? {
                let r = r?;
                prof.add(i64::try_from(r.arrival_ns).unwrap_or(i64::MAX), &r, "");
            }
            Ok((
                "simulator requests.parquet (no statement text: patterns by hash)".into(),
                0,
                0,
                "0 s (simulated time)".into(),
            ))
        }
    }
}

/// What a form cannot know, for the reader of the profile.
fn caveats(format: &str) -> Vec<String> {
    let mut v = Vec::new();
    if format.contains("stderr") {
        let p = format.split("log_line_prefix = ").nth(1).unwrap_or("");
        if whole_seconds(format) {
            v.push(
                "the prefix's %t has whole seconds: arrivals are placed at the second their \
                 statement ended minus its duration, good to a second; rates per bin under a \
                 second, think times under a second and the holds of transactions (which span \
                 lines) are not to be trusted; statements' holds are their logged durations"
                    .to_string(),
            );
        }
        if !p.contains("%e") {
            v.push(
                "the prefix has no %e: errors carry no SQLSTATE and count as query errors"
                    .to_string(),
            );
        }
    }
    if format.contains("csvlog") || format.contains("jsonlog") || format.contains("stderr") {
        v.push(
            "holds are the server's statement durations: a pool's client holds a connection \
             longer (round trips, work between checkout and return), so the concurrency and \
             the pool sizes here are lower bounds"
                .to_string(),
        );
    }
    if format.contains("OTLP") {
        v.push(
            "holds are client spans' durations: a statement's round trip, not the time a \
             connection stayed checked out between statements of one request"
                .to_string(),
        );
    }
    v
}
