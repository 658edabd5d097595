//! Markdown (GitHub-flavoured) rendering of a [`Document`].
//!
//! Charts are referenced as `![title](charts/<file_name>)`. Text from the
//! input is escaped so that it can neither open emphasis or links nor
//! produce raw HTML (and so never a machine marker).

use crate::doc::{Align, Block, Document, Line, Span, Table};
use crate::{MACHINE_BEGIN, MACHINE_END};

/// Renders the document as Markdown.
pub(crate) fn render(doc: &Document) -> String {
    let mut out = String::new();
    out.push_str("# ");
    out.push_str(&escape(&doc.title, false));
    out.push_str("\n\n");
    for line in &doc.lead {
        out.push_str(&guard_line_start(&inline(line, false)));
        out.push_str("\n\n");
    }
    out.push_str("Contents: ");
    let toc: Vec<String> = doc
        .sections
        .iter()
        .map(|s| format!("[{}](#{})", s.title, s.id))
        .collect();
    out.push_str(&toc.join(" · "));
    out.push_str("\n\n");
    for section in &doc.sections {
        out.push_str(&format!("<a id=\"{}\"></a>\n\n", section.id));
        out.push_str("## ");
        out.push_str(section.title);
        out.push_str("\n\n");
        for block in &section.blocks {
            push_block(&mut out, block);
        }
    }
    out
}

fn push_block(out: &mut String, block: &Block) {
    match block {
        Block::Heading { id, text } => {
            out.push_str(&format!("<a id=\"{id}\"></a>\n\n### "));
            out.push_str(&inline(text, false));
            out.push_str("\n\n");
        }
        Block::Paragraph(line) => {
            out.push_str(&guard_line_start(&inline(line, false)));
            out.push_str("\n\n");
        }
        Block::Bullets(items) => {
            if items.is_empty() {
                return;
            }
            for item in items {
                out.push_str("- ");
                out.push_str(&guard_line_start(&inline(item, false)));
                out.push('\n');
            }
            out.push('\n');
        }
        Block::Table(table) => push_table(out, table),
        Block::Chart { file_name, title } => {
            out.push_str(&format!(
                "![{}](charts/{})\n\n",
                escape(title, false),
                file_name
            ));
        }
        Block::Machine(blocks) => {
            out.push_str(MACHINE_BEGIN);
            out.push_str("\n\n");
            for b in blocks {
                push_block(out, b);
            }
            out.push_str(MACHINE_END);
            out.push_str("\n\n");
        }
    }
}

fn push_table(out: &mut String, table: &Table) {
    out.push('|');
    for (h, _) in &table.header {
        out.push(' ');
        out.push_str(&escape(h, true));
        out.push_str(" |");
    }
    out.push_str("\n|");
    for (_, align) in &table.header {
        out.push_str(match align {
            Align::Left => " --- |",
            Align::Right => " ---: |",
        });
    }
    out.push('\n');
    for row in &table.rows {
        out.push('|');
        for cell in row {
            out.push(' ');
            out.push_str(&inline(cell, true));
            out.push_str(" |");
        }
        out.push('\n');
    }
    out.push('\n');
}

/// Escapes what would make a line start a heading, list, quote or rule
/// (`#`, `-`, `+`, `=`, `1.`, `1)`).
fn guard_line_start(line: &str) -> String {
    let first = line.chars().next();
    if matches!(first, Some('#' | '-' | '+' | '=')) {
        return format!("\\{line}");
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && matches!(line[digits..].chars().next(), Some('.' | ')')) {
        return format!("{}\\{}", &line[..digits], &line[digits..]);
    }
    line.to_string()
}

/// Renders inline spans; `in_table` also escapes `|`.
fn inline(line: &Line, in_table: bool) -> String {
    let mut out = String::new();
    for span in line {
        match span {
            Span::Text(s) => out.push_str(&escape(s, in_table)),
            Span::Strong(s) if !s.is_empty() => {
                out.push_str("**");
                out.push_str(&escape(s, in_table));
                out.push_str("**");
            }
            Span::Strong(_) => {}
            Span::Code(s) => out.push_str(&code_span(s, in_table)),
        }
    }
    out
}

/// A code span, or escaped text when the content cannot sit in one safely
/// (raw `<` would survive inside a code span, backticks need fences).
fn code_span(s: &str, in_table: bool) -> String {
    let flat = flatten(s);
    if flat.is_empty() || flat.contains(['<', '`']) || flat.trim() != flat {
        return escape(&flat, in_table);
    }
    let body = if in_table {
        flat.replace('|', "\\|")
    } else {
        flat
    };
    format!("`{body}`")
}

/// Newlines and tabs become spaces: every span stays on its line.
fn flatten(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Escapes text so that Markdown shows it literally.
fn escape(s: &str, in_table: bool) -> String {
    let chars: Vec<char> = flatten(s).chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' | '`' | '*' => {
                out.push('\\');
                out.push(c);
            }
            // A link or reference needs `](`, `][` or `]:`; breaking the
            // `]` there keeps `mean [lo, hi]` readable in the raw text.
            ']' if matches!(chars.get(i + 1), Some('(' | '[' | ':')) => out.push_str("\\]"),
            '_' => {
                // Intra-word underscores never open emphasis; keep
                // `wait_p95_ms` readable in the raw text.
                let prev = i.checked_sub(1).and_then(|j| chars.get(j));
                let next = chars.get(i + 1);
                let inside = prev.is_some_and(|p| p.is_alphanumeric())
                    && next.is_some_and(|n| n.is_alphanumeric());
                if !inside {
                    out.push('\\');
                }
                out.push('_');
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' if in_table => out.push_str("\\|"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_markers() {
        assert_eq!(escape("a*b_c [x](y)", false), "a\\*b_c [x\\](y)");
        assert_eq!(
            escape("![i](u) [r]: v [a][b]", false),
            "![i\\](u) [r\\]: v [a\\][b]"
        );
        assert_eq!(escape("1.0 [0.5, 1.5]", false), "1.0 [0.5, 1.5]");
        assert_eq!(escape("_lead", false), "\\_lead");
        assert_eq!(
            escape("<!-- machine-dependent:end -->", false),
            "&lt;!-- machine-dependent:end --&gt;"
        );
        assert_eq!(escape("a|b", true), "a\\|b");
        assert_eq!(escape("line\nbreak", false), "line break");
    }

    #[test]
    fn line_starts_cannot_open_blocks() {
        assert_eq!(guard_line_start("# title"), "\\# title");
        assert_eq!(guard_line_start("- item"), "\\- item");
        assert_eq!(guard_line_start("---"), "\\---");
        assert_eq!(guard_line_start("12. point"), "12\\. point");
        assert_eq!(guard_line_start("3) x"), "3\\) x");
        assert_eq!(guard_line_start("42 requests"), "42 requests");
        assert_eq!(escape("#", true), "#");
    }

    #[test]
    fn code_spans_fall_back_to_text() {
        assert_eq!(code_span("gbm", false), "`gbm`");
        assert_eq!(code_span("a|b", true), "`a\\|b`");
        assert_eq!(code_span("<x>", false), "&lt;x&gt;");
        assert_eq!(code_span("a`b", false), "a\\`b");
    }
}
