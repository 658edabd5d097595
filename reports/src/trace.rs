//! The profile of a trace before anyone replays it (`poolcast inspect`):
//! a plain model the workbench fills, rendered as terminal text and as one
//! self-contained HTML page with charts.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::format::num_short;
use crate::{Chart, MACHINE_BEGIN, MACHINE_END, ReportError};

/// Everything `poolcast inspect` says about a trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceProfile {
    /// The files read, as given.
    pub files: Vec<String>,
    /// The form they were read in, and what was detected.
    pub format: String,
    /// Requests (statements and transactions).
    pub requests: u64,
    /// Time of the first arrival, as the trace writes it (zone ignored).
    pub first: String,
    /// Seconds from the first arrival to the last request's end.
    pub span_s: f64,
    /// Lines or spans that were not requests.
    pub skipped: u64,
    /// Statements or transactions still open at the end, dropped.
    pub unfinished: u64,
    /// One row per class that has requests.
    pub classes: Vec<ClassRow>,
    /// The statement patterns with the most requests.
    pub top_by_count: Vec<PatternRow>,
    /// The statement patterns with the most connection time.
    pub top_by_hold: Vec<PatternRow>,
    /// Distinct statement patterns (a lower bound when `patterns_capped`).
    pub patterns: u64,
    /// The pattern table hit its bound and dropped its rarest entries.
    pub patterns_capped: bool,
    /// Sessions and the time between a session's requests.
    pub sessions: Sessions,
    /// Failed requests per category, categories with none left out.
    pub errors: Vec<(String, u64)>,
    /// Series over time.
    pub series: Series,
    /// Pool sizing by Erlang C.
    pub sizing: Sizing,
    /// What the trace's form cannot know, said plainly.
    pub caveats: Vec<String>,
    /// Bytes read, and how fast (machine-dependent).
    pub throughput: Throughput,
}

/// One class's requests and holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    /// `read`, `write`, `transaction`, ...
    pub class: String,
    /// Requests of the class.
    pub requests: u64,
    /// Of those, failed.
    pub errors: u64,
    /// Hold quantiles in ms: p50, p95, p99, max.
    pub hold_ms: [f64; 4],
    /// Mean hold in ms.
    pub hold_mean_ms: f64,
}

/// One statement pattern.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatternRow {
    /// The statement with its literals taken out (or the pattern's hash
    /// when the trace has no text).
    pub statement: String,
    /// Its class.
    pub class: String,
    /// Requests.
    pub count: u64,
    /// Connection time, seconds.
    pub hold_s: f64,
    /// Mean hold, ms.
    pub mean_ms: f64,
}

/// Sessions (clients) and their think times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    /// Sessions seen (one idle for over an hour counts again).
    pub sessions: u64,
    /// Requests per session, mean.
    pub requests_per_session: f64,
    /// Think time (end of a session's request to its next arrival) in ms:
    /// p50, p95, p99.
    pub think_ms: [f64; 3],
    /// Think times measured.
    pub thinks: u64,
}

/// Series over the trace's time, one value per bin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The bin width, seconds.
    pub bin_s: f64,
    /// Bin starts, seconds from the first bin.
    pub t_s: Vec<f64>,
    /// Arrivals per second.
    pub arrivals_per_s: Vec<f64>,
    /// Connections busy if each request held one, mean over the bin.
    pub busy_mean: Vec<f64>,
    /// The most requests holding a connection at once in the bin (counted
    /// at arrivals).
    pub busy_peak: Vec<f64>,
    /// The smallest pool Erlang C says meets the wait target in the bin.
    pub pool_needed: Vec<f64>,
}

/// What Erlang C asks of the pool over the trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sizing {
    /// The mean acquire wait aimed at, ms.
    pub wait_target_ms: f64,
    /// The pool needed: median, 95th percentile and most over the bins
    /// with traffic.
    pub needed: [f64; 3],
    /// The most connections busy at once anywhere in the trace.
    pub busy_peak: f64,
}

/// How fast the trace was read (machine-dependent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Bytes of the files.
    pub bytes: u64,
    /// Seconds spent reading and profiling.
    pub seconds: f64,
}

impl Throughput {
    /// Megabytes (10⁶ bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / 1e6 / self.seconds
        } else {
            f64::NAN
        }
    }
}

/// A rendered profile.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedTrace {
    /// For the terminal.
    pub text: String,
    /// One self-contained HTML page, charts inlined.
    pub html: String,
    /// The charts.
    pub charts: Vec<Chart>,
}

/// Renders a profile as terminal text and HTML.
///
/// # Errors
/// A chart failed to draw.
pub fn render_trace(p: &TraceProfile) -> Result<RenderedTrace, ReportError> {
    let charts = crate::charts::trace::render(p)?;
    Ok(RenderedTrace {
        text: text(p),
        html: html(p, &charts),
        charts,
    })
}

/// The tables of a profile, as rows of cells (header first).
fn tables(p: &TraceProfile) -> Vec<(&'static str, Vec<Vec<String>>)> {
    let ms = |v: f64| num_short(round3(v));
    let mut classes = vec![vec![
        "class".to_string(),
        "requests".into(),
        "errors".into(),
        "hold p50 ms".into(),
        "p95".into(),
        "p99".into(),
        "max".into(),
        "mean".into(),
    ]];
    for c in &p.classes {
        classes.push(vec![
            c.class.clone(),
            c.requests.to_string(),
            c.errors.to_string(),
            ms(c.hold_ms[0]),
            ms(c.hold_ms[1]),
            ms(c.hold_ms[2]),
            ms(c.hold_ms[3]),
            ms(c.hold_mean_ms),
        ]);
    }
    let patterns = |rows: &[PatternRow]| {
        let mut t = vec![vec![
            "statement pattern".to_string(),
            "class".into(),
            "requests".into(),
            "hold s".into(),
            "mean ms".into(),
        ]];
        for r in rows {
            t.push(vec![
                shorten(&r.statement, 100),
                r.class.clone(),
                r.count.to_string(),
                num_short(round3(r.hold_s)),
                ms(r.mean_ms),
            ]);
        }
        t
    };
    let mut errors = vec![vec!["category".to_string(), "failed requests".into()]];
    for (c, n) in &p.errors {
        errors.push(vec![c.clone(), n.to_string()]);
    }
    vec![
        ("Classes", classes),
        ("Top patterns by requests", patterns(&p.top_by_count)),
        ("Top patterns by connection time", patterns(&p.top_by_hold)),
        ("Errors by category", errors),
    ]
}

/// Three decimals, for display.
fn round3(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        v
    }
}

fn shorten(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut out: String = one_line.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// The summary lines shared by text and HTML.
fn summary(p: &TraceProfile) -> Vec<String> {
    let mut v = vec![
        format!("files: {}", p.files.join(", ")),
        format!("format: {}", p.format),
        format!(
            "requests: {} over {} s from {} ({} lines or spans not requests, {} unfinished at the end)",
            p.requests,
            num_short(round3(p.span_s)),
            p.first,
            p.skipped,
            p.unfinished
        ),
        format!(
            "patterns: {}{}",
            p.patterns,
            if p.patterns_capped {
                " (at least: the table kept the most frequent)"
            } else {
                ""
            }
        ),
        format!(
            "sessions: {}, {} requests each on average; think time p50 {} ms, p95 {} ms, p99 {} ms ({} measured)",
            p.sessions.sessions,
            num_short(round3(p.sessions.requests_per_session)),
            num_short(round3(p.sessions.think_ms[0])),
            num_short(round3(p.sessions.think_ms[1])),
            num_short(round3(p.sessions.think_ms[2])),
            p.sessions.thinks
        ),
        format!(
            "pool by Erlang C for a mean wait of {} ms, per {} s bin: median {}, p95 {}, most {}; at most {} requests held a connection at once",
            num_short(p.sizing.wait_target_ms),
            num_short(p.series.bin_s),
            num_short(p.sizing.needed[0]),
            num_short(p.sizing.needed[1]),
            num_short(p.sizing.needed[2]),
            num_short(p.sizing.busy_peak)
        ),
    ];
    v.extend(p.caveats.iter().map(|c| format!("note: {c}")));
    v
}

/// The throughput line (machine-dependent).
fn speed(p: &TraceProfile) -> String {
    format!(
        "read {} MB in {} s: {} MB/s",
        num_short(round3(p.throughput.bytes as f64 / 1e6)),
        num_short(round3(p.throughput.seconds)),
        num_short((p.throughput.mb_per_s() * 10.0).round() / 10.0)
    )
}

fn text(p: &TraceProfile) -> String {
    let mut out = String::new();
    for l in summary(p) {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out, "{}", speed(p));
    for (title, rows) in tables(p) {
        if rows.len() < 2 {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i == 0 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
        }
    }
    out
}

fn html(p: &TraceProfile, charts: &[Chart]) -> String {
    let e = crate::html::escape;
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>Trace profile: {}</title>\n<style>\n{}</style>\n</head>\n<body>",
        e(&p.files.join(", ")),
        crate::html::STYLE
    );
    let _ = writeln!(out, "<h1>Trace profile</h1>");
    out.push_str("<ul>\n");
    for l in summary(p) {
        let _ = writeln!(out, "<li>{}</li>", e(&l));
    }
    out.push_str("</ul>\n");
    let _ = writeln!(
        out,
        "{MACHINE_BEGIN}\n<p class=\"machine\">{}</p>\n{MACHINE_END}",
        e(&speed(p))
    );
    for c in charts {
        let _ = writeln!(
            out,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            c.svg,
            e(&c.title)
        );
    }
    for (title, rows) in tables(p) {
        if rows.len() < 2 {
            continue;
        }
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<div class=\"table-wrap\"><table>",
            e(title)
        );
        for (i, r) in rows.iter().enumerate() {
            out.push_str("<tr>");
            for (j, c) in r.iter().enumerate() {
                let tag = if i == 0 { "th" } else { "td" };
                let class = if j > 0 { " class=\"num\"" } else { "" };
                if j == 0 && i > 0 && title.starts_with("Top") {
                    let _ = write!(out, "<{tag}><code>{}</code></{tag}>", e(c));
                } else {
                    let _ = write!(out, "<{tag}{class}>{}</{tag}>", e(c));
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table></div>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
