//! Renders the sample report to a directory, to look at the output:
//! `cargo run -p poolcast-reports --example render_sample -- /tmp/report-sample`

use std::path::PathBuf;
use std::{env, fs};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        env::args()
            .nth(1)
            .unwrap_or_else(|| "report-sample".to_string()),
    );
    let report = poolcast_reports::fixture::sample_report();
    let rendered = poolcast_reports::render(&report)?;
    fs::create_dir_all(dir.join("charts"))?;
    fs::write(dir.join("report.md"), &rendered.markdown)?;
    fs::write(dir.join("report.html"), &rendered.html)?;
    fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    for chart in &rendered.charts {
        fs::write(dir.join("charts").join(&chart.file_name), &chart.svg)?;
    }
    println!("wrote {} ({} charts)", dir.display(), rendered.charts.len());
    Ok(())
}
