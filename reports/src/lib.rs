//! # poolcast-reports
//!
//! Charts (plotters, SVG) and Markdown/HTML reports of a poolcast run. The
//! crate takes plain serializable inputs ([`RunReport`]) and depends on no
//! other poolcast crate: the runner fills a report, calls [`render`] and
//! writes the Markdown, the HTML and `charts/<file_name>` for each chart.
//!
//! Everything outside the [`MACHINE_BEGIN`]…[`MACHINE_END`] blocks is a
//! deterministic function of the input (no maps iterated, fixed float
//! formatting, no clock), so two runs of the same manifest give the same
//! bytes once [`strip_machine_dependent`] has removed the timings.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod charts;
mod doc;
#[doc(hidden)]
pub mod fixture;
mod format;
mod html;
mod markdown;
pub mod model;
mod sections;
mod summary;
pub mod trace;

pub use model::*;

/// Opens a block of machine-dependent content (timings) in the Markdown and
/// the HTML.
pub const MACHINE_BEGIN: &str = "<!-- machine-dependent:begin -->";

/// Closes a block opened by [`MACHINE_BEGIN`].
pub const MACHINE_END: &str = "<!-- machine-dependent:end -->";

/// A rendered report.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The Markdown report; charts are referenced as `charts/<file_name>`.
    pub markdown: String,
    /// One self-contained HTML file: inline CSS, the SVGs inlined.
    pub html: String,
    /// Every chart the report had data for, in report order.
    pub charts: Vec<Chart>,
}

/// One chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name under `charts/`, e.g. `"forecast-series.svg"`.
    pub file_name: String,
    /// Human title (the caption and the Markdown alt text).
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The embedded font could not be registered with plotters.
    #[error("the embedded chart font (DejaVu Sans) could not be registered")]
    Font,
    /// A chart failed to draw.
    #[error("chart {file_name}: {message}")]
    Chart {
        /// The chart's file name.
        file_name: String,
        /// What went wrong.
        message: String,
    },
}

/// Renders a report: Markdown, self-contained HTML and the charts.
///
/// Never panics on bad values: non-finite numbers render as "n/a", empty
/// data as "no data", sections that were not run as "not run".
pub fn render(report: &RunReport) -> Result<Rendered, ReportError> {
    let charts = charts::render_all(report)?;
    let document = sections::build(report, &charts);
    Ok(Rendered {
        markdown: markdown::render(&document),
        html: html::render(&document, &charts),
        charts,
    })
}

/// Removes every machine-dependent block, markers included. A block left
/// open is removed to the end of the text; a stray end marker is kept.
pub fn strip_machine_dependent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(MACHINE_BEGIN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + MACHINE_BEGIN.len()..];
        match after.find(MACHINE_END) {
            Some(end) => rest = &after[end + MACHINE_END.len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_every_marked_block() {
        let text = format!("a{MACHINE_BEGIN}x{MACHINE_END}b{MACHINE_BEGIN}y{MACHINE_END}c");
        assert_eq!(strip_machine_dependent(&text), "abc");
        assert_eq!(strip_machine_dependent("plain"), "plain");
        assert_eq!(
            strip_machine_dependent(&format!("a{MACHINE_BEGIN}open")),
            "a"
        );
        let stray = format!("a{MACHINE_END}b");
        assert_eq!(strip_machine_dependent(&stray), stray);
    }
}
