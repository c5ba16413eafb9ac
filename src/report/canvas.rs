//! The drawing backend of every chart: plotters' bitmap backend, with text laid out and drawn
//! here from the embedded DejaVu Sans font.
//!
//! plotters 0.3.7 draws each glyph of its `ab_glyph` fonts at the pen position without the
//! glyph's left side bearing, so glyphs with a wide bearing (`1`, `.`) sit too far left and
//! leave a gap after them: `$28.19` read as `$28.1 9`, `time` as `ti me`. Here the pen advances
//! by each glyph's advance plus the pair's kerning, and each glyph is drawn at its own outline
//! bounds, so the ink lands where the font puts it. The layout box is plotters' own (the
//! advances' width, size / 1.24 high), which its legends also use to place their lines; the
//! baseline sits so that digits are centred in that box, and text anchored at its centre lines
//! up with the tick it labels.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont, point};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// The embedded font's bytes.
pub(super) const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The embedded font, parsed once per process (`None` if the bytes are not a font).
fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
}

/// Where a text's glyphs go: the layout box and each glyph's pen position.
#[derive(Debug, PartialEq)]
pub(super) struct Layout {
    /// Width and height of the layout box, pixels.
    pub(super) size: (i32, i32),
    /// Baseline below the top of the box, pixels.
    pub(super) baseline: f32,
    /// Pen x of each character (where its advance starts), pixels from the box's left.
    pub(super) pens: Vec<f32>,
}

/// Lays `text` out at `px` pixels: pens advance by each glyph's advance plus kerning.
pub(super) fn layout(text: &str, px: f32) -> Option<Layout> {
    let font = font()?.as_scaled(px);
    let mut pens = Vec::with_capacity(text.len());
    let mut pen = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            pen += font.kern(p, id);
        }
        pens.push(pen);
        pen += font.h_advance(id);
        previous = Some(id);
    }
    let height = px / 1.24;
    // Centre the digits (their outline's height) in the box.
    let digit = font
        .outline_glyph(font.scaled_glyph('0'))
        .map_or(px * 0.6, |g| g.px_bounds().height());
    Some(Layout {
        size: (pen.ceil() as i32, height as i32),
        baseline: (height + digit) / 2.0,
        pens,
    })
}

/// plotters' bitmap backend with this module's text.
pub(super) struct Canvas<'a>(pub(super) BitMapBackend<'a>);

type Error<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for Canvas<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Error<'a>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Error<'a>> {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Error<'a>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Error<'a>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Error<'a>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Error<'a>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Error<'a>> {
        let l = layout(text, style.size() as f32).ok_or_else(font_error)?;
        Ok((l.size.0.unsigned_abs(), l.size.1.unsigned_abs()))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Error<'a>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let px = style.size() as f32;
        let l = layout(text, px).ok_or_else(font_error)?;
        let font = font().ok_or_else(font_error)?.as_scaled(px);
        let (w, h) = l.size;
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -w,
            HPos::Center => -w / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let turn = style.transform();
        for (c, pen) in text.chars().zip(&l.pens) {
            let mut glyph = font.scaled_glyph(c);
            glyph.position = point(*pen, l.baseline);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|x, y, coverage| {
                let x = bounds.min.x as i32 + x as i32 + dx;
                let y = bounds.min.y as i32 + y as i32 + dy;
                pixels.push((turn.transform(x, y), coverage));
            });
            for ((x, y), coverage) in pixels {
                let ink = BackendColor {
                    alpha: color.alpha * f64::from(coverage.min(1.0)),
                    rgb: color.rgb,
                };
                self.0.draw_pixel((pos.0 + x, pos.1 + y), ink)?;
            }
        }
        Ok(())
    }
}

/// The error of a font that cannot be read.
fn font_error<E: std::error::Error + Send + Sync>() -> DrawingErrorKind<E> {
    DrawingErrorKind::FontError("the embedded DejaVu Sans font could not be read".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pens_advance_by_the_glyph_advances() {
        let l = layout("$28.19", 13.0).unwrap();
        assert_eq!(l.pens.len(), 6);
        assert_eq!(l.pens[0], 0.0);
        assert!(l.pens.windows(2).all(|p| p[1] > p[0]), "{:?}", l.pens);
        // DejaVu's digits share one advance: the pens of 2, 8 and 1 step alike.
        let step = l.pens[2] - l.pens[1];
        assert!((l.pens[5] - l.pens[4] - step).abs() < 0.01, "{:?}", l.pens);
        assert!(l.size.0 as f32 >= l.pens[5] + step - 1.0);
        assert!(l.baseline > 0.0 && l.baseline < 13.0);
    }

    /// Renders `text` at 26 px on a small canvas and returns, for each column, whether it
    /// holds ink.
    fn inked_columns(text: &str) -> Vec<bool> {
        let (w, h) = (300u32, 60u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = Canvas(BitMapBackend::with_buffer(&mut buf, (w, h))).into_drawing_area();
            let style = TextStyle::from(("sans-serif", 26)).color(&BLACK);
            root.draw_text(text, &style, (10, 10)).unwrap();
            root.present().unwrap();
        }
        (0..w)
            .map(|x| (0..h).any(|y| buf[((y * w + x) * 3) as usize] < 128))
            .collect()
    }

    #[test]
    fn ink_starts_at_the_bearing_not_before_the_anchor() {
        // DejaVu's 1 has a left bearing of 225/2048 em, 2.5 px at 26 px: anchored at x = 10,
        // its ink starts at column 12 (plotters' own drawing started it at 10, which is what
        // put a gap after every 1: "$28.1 9").
        for text in ["1", "19", "1.9"] {
            let columns = inked_columns(text);
            let first = columns.iter().position(|c| *c).unwrap();
            assert!(
                (12..=13).contains(&first),
                "{text}: ink from column {first}"
            );
        }
    }
}
