//! The document both renderers share: sections of headings, paragraphs,
//! lists, tables and chart references.
//!
//! [`crate::sections`] builds one [`Document`] from a report;
//! [`crate::markdown`] and [`crate::html`] turn it into text. Building once
//! keeps the Markdown and the HTML saying the same thing.

/// A piece of inline text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Span {
    /// Plain text.
    Text(String),
    /// Emphasized (bold) text.
    Strong(String),
    /// A name: model, policy, scenario, feature, hash.
    Code(String),
}

/// A run of inline text: a paragraph, a list item or a table cell.
pub(crate) type Line = Vec<Span>;

/// Plain text as a line.
pub(crate) fn text(s: impl Into<String>) -> Line {
    vec![Span::Text(s.into())]
}

/// A name as a line.
pub(crate) fn code(s: impl Into<String>) -> Line {
    vec![Span::Code(s.into())]
}

/// Builds a line from spans.
#[derive(Debug, Default)]
pub(crate) struct LineBuilder(Line);

impl LineBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }
    pub(crate) fn text(mut self, s: impl Into<String>) -> Self {
        self.0.push(Span::Text(s.into()));
        self
    }
    pub(crate) fn strong(mut self, s: impl Into<String>) -> Self {
        self.0.push(Span::Strong(s.into()));
        self
    }
    pub(crate) fn code(mut self, s: impl Into<String>) -> Self {
        self.0.push(Span::Code(s.into()));
        self
    }
    pub(crate) fn line(mut self, line: Line) -> Self {
        self.0.extend(line);
        self
    }
    pub(crate) fn build(self) -> Line {
        self.0
    }
}

/// Horizontal alignment of a table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table: a header row and body rows of the same width.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) header: Vec<(String, Align)>,
    pub(crate) rows: Vec<Vec<Line>>,
}

/// A block of content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    /// A sub-heading with its anchor.
    Heading { id: String, text: Line },
    /// A paragraph.
    Paragraph(Line),
    /// A bulleted list.
    Bullets(Vec<Line>),
    /// A table.
    Table(Table),
    /// A chart, by file name; the renderers find it in the chart list.
    Chart { file_name: String, title: String },
    /// Machine-dependent content, wrapped in the machine markers.
    Machine(Vec<Block>),
}

/// One top-level section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    /// Stable anchor.
    pub(crate) id: &'static str,
    /// Heading text.
    pub(crate) title: &'static str,
    /// Content.
    pub(crate) blocks: Vec<Block>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    /// Title of the report.
    pub(crate) title: String,
    /// Lines under the title.
    pub(crate) lead: Vec<Line>,
    /// Sections, in order.
    pub(crate) sections: Vec<Section>,
}
