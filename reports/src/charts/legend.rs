//! A legend drawn beside the plot, never over it.
//!
//! plotters draws its series labels inside the plotting area, where they
//! cover data, and clips anything placed outside it. So each chart lists
//! its entries here before drawing, widens itself by [`Legend::width`], and
//! draws the legend on the root area right of the plot (issue 25).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Area, DrawResult, small_font, text_width};

/// Gap between the plot's right edge and the legend, px.
const GAP: i32 = 14;
/// Width of an entry's sample mark, px.
const MARK: i32 = 24;
/// Space between the mark and the label, px.
const MARK_GAP: i32 = 8;
/// Padding inside the legend box, px.
const PAD: i32 = 8;
/// Height of one entry, px.
const ROW: i32 = 18;

/// How an entry's sample is drawn, in the series' own style.
#[derive(Debug, Clone, Copy)]
pub(super) enum Mark {
    /// A line.
    Line(ShapeStyle),
    /// A line with a dot on it.
    LineDot(ShapeStyle),
    /// A dashed line with a square on it.
    DashSquare(ShapeStyle),
    /// A line with a triangle on it.
    LineTriangle(ShapeStyle),
    /// A filled swatch.
    Swatch(ShapeStyle),
    /// A filled dot.
    Dot(ShapeStyle),
    /// A cross.
    Cross(ShapeStyle),
    /// A ring.
    Ring(ShapeStyle),
}

/// The entries of one chart's legend, in drawing order.
#[derive(Debug, Default, Clone)]
pub(super) struct Legend {
    entries: Vec<(String, Mark)>,
}

impl Legend {
    /// An empty legend.
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub(super) fn add(&mut self, label: impl Into<String>, mark: Mark) {
        self.entries.push((label.into(), mark));
    }

    /// The band it takes right of the plot, px; 0 when empty.
    pub(super) fn width(&self) -> u32 {
        let font = small_font();
        self.entries
            .iter()
            .map(|(l, _)| text_width(&font, l))
            .max()
            .map_or(0, |w| (GAP + 2 * PAD + MARK + MARK_GAP) as u32 + w + 6)
    }

    /// Draws the legend on `root` with its top-left corner `skip` px right
    /// of the plot's top-right corner (past labels written beside the plot).
    pub(super) fn draw<DB, CT>(
        &self,
        root: &Area<'_>,
        chart: &ChartContext<'_, DB, CT>,
        skip: u32,
    ) -> DrawResult
    where
        DB: DrawingBackend,
        CT: CoordTranslate,
    {
        if self.entries.is_empty() {
            return Ok(());
        }
        let (x0, y0) = chart.plotting_area().get_base_pixel();
        let (w, _) = chart.plotting_area().dim_in_pixel();
        let left = x0 + w as i32 + skip as i32 + GAP;
        let top = y0;
        let font = small_font();
        let text_w = self
            .entries
            .iter()
            .map(|(l, _)| text_width(&font, l) as i32)
            .max()
            .unwrap_or(0);
        let right = left + 2 * PAD + MARK + MARK_GAP + text_w;
        let bottom = top + 2 * PAD + ROW * self.entries.len() as i32;
        root.draw(&Rectangle::new(
            [(left, top), (right, bottom)],
            WHITE.filled(),
        ))?;
        root.draw(&Rectangle::new(
            [(left, top), (right, bottom)],
            RGBColor(160, 160, 160).stroke_width(1),
        ))?;
        for (i, (label, mark)) in self.entries.iter().enumerate() {
            let y = top + PAD + ROW * i as i32 + ROW / 2;
            let x = left + PAD;
            draw_mark(root, *mark, x, y)?;
            root.draw(&Text::new(
                label.clone(),
                (x + MARK + MARK_GAP, y),
                font.pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
        Ok(())
    }
}

/// Draws one sample mark, `MARK` px wide, starting at `x` on the line `y`.
fn draw_mark(root: &Area<'_>, mark: Mark, x: i32, y: i32) -> DrawResult {
    let mid = x + MARK / 2;
    let line = |style: ShapeStyle| PathElement::new(vec![(x, y), (x + MARK, y)], style);
    match mark {
        Mark::Line(s) => root.draw(&line(s))?,
        Mark::LineDot(s) => {
            root.draw(&line(s))?;
            root.draw(&Circle::new((mid, y), 4, s.color.filled()))?;
        }
        Mark::DashSquare(s) => {
            root.draw(&PathElement::new(vec![(x, y), (x + 8, y)], s))?;
            root.draw(&PathElement::new(vec![(x + MARK - 8, y), (x + MARK, y)], s))?;
            root.draw(&Rectangle::new(
                [(mid - 4, y - 4), (mid + 4, y + 4)],
                s.color.filled(),
            ))?;
        }
        Mark::LineTriangle(s) => {
            root.draw(&line(s))?;
            root.draw(&TriangleMarker::new((mid, y), 5, s.color.filled()))?;
        }
        Mark::Swatch(s) => root.draw(&Rectangle::new([(x, y - 6), (x + MARK, y + 6)], s))?,
        Mark::Dot(s) => root.draw(&Circle::new((mid, y), 5, s))?,
        Mark::Cross(s) => {
            root.draw(&PathElement::new(
                vec![(mid - 5, y - 5), (mid + 5, y + 5)],
                s,
            ))?;
            root.draw(&PathElement::new(
                vec![(mid - 5, y + 5), (mid + 5, y - 5)],
                s,
            ))?;
        }
        Mark::Ring(s) => root.draw(&Circle::new((mid, y), 7, s))?,
    }
    Ok(())
}
