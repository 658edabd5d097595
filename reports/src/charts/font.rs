//! The embedded font: DejaVu Sans, registered with plotters once.
//!
//! plotters' `ab_glyph` backend measures text with registered fonts only, so
//! charts lay out the same on a machine with no system font and no
//! fontconfig. The SVG output names the family `sans-serif`; viewers draw it
//! with whatever sans-serif they have.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use super::FAMILY;
use crate::ReportError;

/// DejaVu Sans 2.37 (Bitstream Vera license; see `assets/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font under `sans-serif` on first use.
pub(crate) fn ensure_font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    // Other styles (bold) fall back to the normal face.
    let ok =
        *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok { Ok(()) } else { Err(ReportError::Font) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_registers_and_measures_text() {
        assert!(ensure_font().is_ok());
        let font = plotters::style::FontDesc::new(
            plotters::style::FontFamily::SansSerif,
            14.0,
            FontStyle::Normal,
        );
        let size = font.box_size("Accuracy 87.3%");
        assert!(size.is_ok_and(|(w, h)| w > 50 && h > 5));
    }
}
