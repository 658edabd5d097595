//! Self-contained HTML rendering of a [`Document`].
//!
//! One file: inline CSS, the chart SVGs inlined, no external URL and no
//! script, so it opens offline in any browser.

use crate::Chart;
use crate::doc::{Align, Block, Document, Line, Span, Table};
use crate::{MACHINE_BEGIN, MACHINE_END};

pub(crate) const STYLE: &str = "\
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,'Segoe UI','DejaVu Sans',sans-serif;\
margin:0 auto;max-width:1360px;padding:1.5rem;line-height:1.45;color:#1b1f24;background:#fff}
h1{font-size:1.7rem;margin-bottom:.3rem}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.25rem;margin-top:2.2rem}
h3{margin-top:1.6rem}
nav{font-size:.95rem;margin:1rem 0}
nav a{margin-right:.9rem}
a{color:#0b5cad}
code{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.92em;\
background:#f2f4f7;padding:.05em .3em;border-radius:3px}
.table-wrap{overflow-x:auto;margin:.8rem 0;max-width:100%}
table{border-collapse:separate;border-spacing:0;font-size:.88rem}
th,td{border:1px solid #d0d7de;border-width:0 1px 1px 0;padding:.3rem .55rem;vertical-align:top;background:#fff}
tr>:first-child{border-left-width:1px}
thead tr:first-child>*{border-top-width:1px}
th{background:#f6f8fa;text-align:left}
th.num{text-align:right}
td.num{text-align:right;white-space:nowrap}
td code{white-space:nowrap}
tbody tr:nth-child(even)>td{background:#fafbfc}
.table-wrap tr>:first-child{position:sticky;left:0;z-index:1;max-width:26em}
td code.long{white-space:normal}
figure{margin:1rem 0}
figure svg{max-width:100%;height:auto;border:1px solid #e4e7eb}
figcaption{font-size:.88rem;color:#57606a}
.machine{border-left:4px solid #d4a72c;background:#fffbeb;padding:.2rem 1rem;margin:1rem 0}
";

/// Renders the document as one HTML file with the charts inlined.
pub(crate) fn render(doc: &Document, charts: &[Chart]) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>");
    out.push_str(&escape(&doc.title));
    out.push_str("</title>\n<style>\n");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<h1>");
    out.push_str(&escape(&doc.title));
    out.push_str("</h1>\n");
    for line in &doc.lead {
        out.push_str("<p>");
        out.push_str(&inline(line));
        out.push_str("</p>\n");
    }
    out.push_str("<nav>");
    for s in &doc.sections {
        out.push_str(&format!("<a href=\"#{}\">{}</a>", s.id, escape(s.title)));
    }
    out.push_str("</nav>\n");
    for section in &doc.sections {
        out.push_str(&format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n",
            section.id,
            escape(section.title)
        ));
        for block in &section.blocks {
            push_block(&mut out, block, charts);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn push_block(out: &mut String, block: &Block, charts: &[Chart]) {
    match block {
        Block::Heading { id, text } => {
            out.push_str(&format!(
                "<h3 id=\"{}\">{}</h3>\n",
                escape(id),
                inline(text)
            ));
        }
        Block::Paragraph(line) => {
            out.push_str("<p>");
            out.push_str(&inline(line));
            out.push_str("</p>\n");
        }
        Block::Bullets(items) => {
            if items.is_empty() {
                return;
            }
            out.push_str("<ul>\n");
            for item in items {
                out.push_str("<li>");
                out.push_str(&inline(item));
                out.push_str("</li>\n");
            }
            out.push_str("</ul>\n");
        }
        Block::Table(table) => push_table(out, table),
        Block::Chart { file_name, title } => {
            let id = format!("chart-{}", file_name.trim_end_matches(".svg"));
            out.push_str(&format!("<figure id=\"{}\">\n", escape(&id)));
            match charts.iter().find(|c| &c.file_name == file_name) {
                Some(chart) => out.push_str(&inline_svg(&chart.svg, title)),
                None => out.push_str("<p>no data</p>"),
            }
            out.push_str("\n<figcaption>");
            out.push_str(&escape(title));
            out.push_str("</figcaption>\n</figure>\n");
        }
        Block::Machine(blocks) => {
            out.push_str(MACHINE_BEGIN);
            out.push_str("\n<div class=\"machine\">\n");
            for b in blocks {
                push_block(out, b, charts);
            }
            out.push_str("</div>\n");
            out.push_str(MACHINE_END);
            out.push('\n');
        }
    }
}

/// The chart's SVG with an accessible name on its root element.
fn inline_svg(svg: &str, title: &str) -> String {
    let svg = svg.trim();
    match svg.strip_prefix("<svg") {
        Some(rest) => format!("<svg role=\"img\" aria-label=\"{}\"{}", escape(title), rest),
        None => escape(svg),
    }
}

fn push_table(out: &mut String, table: &Table) {
    out.push_str("<div class=\"table-wrap\"><table>\n<thead><tr>");
    for (h, align) in &table.header {
        match align {
            Align::Left => out.push_str("<th>"),
            Align::Right => out.push_str("<th class=\"num\">"),
        }
        out.push_str(&escape(h));
        out.push_str("</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let right = table.header.get(i).is_some_and(|(_, a)| *a == Align::Right);
            out.push_str(if right { "<td class=\"num\">" } else { "<td>" });
            out.push_str(&inline(cell));
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

/// Code spans longer than this many characters may wrap in tables.
const LONG_CODE: usize = 32;

fn inline(line: &Line) -> String {
    let mut out = String::new();
    for span in line {
        match span {
            Span::Text(s) => out.push_str(&escape(s)),
            Span::Strong(s) => {
                out.push_str("<strong>");
                out.push_str(&escape(s));
                out.push_str("</strong>");
            }
            Span::Code(s) => {
                // A long name (a model's hyper-parameters) may wrap at its
                // spaces in a table; a short one (a policy) stays whole.
                out.push_str(if s.chars().count() > LONG_CODE {
                    "<code class=\"long\">"
                } else {
                    "<code>"
                });
                out.push_str(&escape(s));
                out.push_str("</code>");
            }
        }
    }
    out
}

/// Escapes text for element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn names_the_inlined_svg() {
        let svg = "<svg width=\"10\" height=\"10\"></svg>\n";
        assert_eq!(
            inline_svg(svg, "A \"chart\""),
            "<svg role=\"img\" aria-label=\"A &quot;chart&quot;\" width=\"10\" height=\"10\"></svg>"
        );
    }
}
