//! The QR code a desktop visitor scans to continue on their phone, as inline SVG.
//!
//! The crate's renderer walks the modules; our canvas draws each horizontal run of dark modules
//! as one stroked line with relative moves (`m2 0h3`). The crate's own SVG canvas writes a
//! rectangle per module: 13.2 KB against our 2.8 KB for a real link (135 characters), plus an
//! XML declaration and an `http://` namespace that inline SVG does not need.

use super::escape;
use qrcode::render::{Canvas, Pixel};
use qrcode::types::Color;
use qrcode::{EcLevel, QrCode};
use std::fmt::Write;

/// Inline `<svg>` of `text`'s QR code, labelled "QR code" for screen readers; empty if `text`
/// is too long for a QR code (over 2,953 bytes).
pub fn qr_svg(text: &str) -> String {
    qr_svg_labelled(text, "QR code")
}

pub(super) fn qr_svg_labelled(text: &str, label: &str) -> String {
    // Level L: a code on a screen is not torn or dirty, and fewer modules scan more easily.
    let Ok(code) = QrCode::with_error_correction_level(text, EcLevel::L) else {
        return String::new();
    };
    // The renderer adds the 4-module quiet zone the QR specification asks for.
    let path = code.render::<Dark>().build();
    let size = code.width() + 8;
    format!(
        concat!(
            r#"<svg role="img" aria-label="{label}" viewBox="0 0 {size} {size}" "#,
            r##"shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/>"##,
            r##"<path stroke="#000" d="{path}"/></svg>"##
        ),
        label = escape(label),
        size = size,
        path = path,
    )
}

/// The renderer's pixel type: colours live in the SVG attributes, so it carries none.
#[derive(Clone, Copy)]
struct Dark;

impl Pixel for Dark {
    type Image = String;
    type Canvas = RunCanvas;

    fn default_unit_size() -> (u32, u32) {
        (1, 1)
    }

    fn default_color(_: Color) -> Self {
        Dark
    }
}

/// Collects the dark modules, which the renderer hands over row by row, left to right, as
/// horizontal runs `(x, y, length)`.
struct RunCanvas {
    runs: Vec<(u32, u32, u32)>,
}

impl Canvas for RunCanvas {
    type Pixel = Dark;
    type Image = String;

    fn new(_: u32, _: u32, _: Dark, _: Dark) -> Self {
        RunCanvas { runs: Vec::new() }
    }

    fn draw_dark_pixel(&mut self, x: u32, y: u32) {
        match self.runs.last_mut() {
            Some((start, row, len)) if *row == y && *start + *len == x => *len += 1,
            _ => self.runs.push((x, y, 1)),
        }
    }

    /// The path data: a line through the middle of each run, drawn with the default 1-wide
    /// stroke so it covers exactly its modules.
    fn into_image(self) -> String {
        let mut d = String::with_capacity(self.runs.len() * 8);
        let (mut at_x, mut at_y) = (0i64, 0i64);
        for (i, &(x, y, len)) in self.runs.iter().enumerate() {
            let (x, y) = (i64::from(x), i64::from(y));
            let _ = if i == 0 {
                write!(d, "M{x} {y}.5h{len}")
            } else {
                write!(d, "m{} {}h{len}", x - at_x, y - at_y)
            };
            (at_x, at_y) = (x + i64::from(len), y);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view_box_size(svg: &str) -> u32 {
        let start = svg.find("viewBox=\"").expect("viewBox") + "viewBox=\"".len();
        let view_box = &svg[start..start + svg[start..].find('"').unwrap()];
        let parts: Vec<&str> = view_box.split(' ').collect();
        assert_eq!(parts.len(), 4, "{view_box}");
        assert_eq!(parts[2], parts[3], "square");
        parts[2].parse().unwrap()
    }

    #[test]
    fn is_a_labelled_inline_svg() {
        let svg = qr_svg("https://example.com/mlink/abc");
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-label="QR code""#));
        assert!(!svg.contains("<?xml") && !svg.contains("http://"));
        // A version 2 code (25 modules) at level L, plus the quiet zone on both sides.
        assert_eq!(view_box_size(&svg), 25 + 8);
    }

    #[test]
    fn module_count_grows_with_the_text() {
        let sizes: Vec<u32> = [10, 60, 200, 1000]
            .map(|n| view_box_size(&qr_svg(&"a".repeat(n))))
            .to_vec();
        assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    }

    #[test]
    fn label_is_escaped_and_too_long_text_gives_nothing() {
        let svg = qr_svg_labelled("x", r#"a"b<c"#);
        assert!(svg.contains(r#"aria-label="a&quot;b&lt;c""#));
        assert_eq!(qr_svg(&"a".repeat(3000)), "");
    }

    /// Replays the path's `M x y.5`, `m dx dy` and `h len` commands into a grid of dark modules.
    fn modules_drawn(path: &str, size: usize) -> Vec<bool> {
        let mut grid = vec![false; size * size];
        let (mut x, mut y) = (0i64, 0i64);
        let starts: Vec<usize> = path
            .match_indices(['M', 'm', 'h'])
            .map(|(i, _)| i)
            .collect();
        for (n, &start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(path.len());
            let args: Vec<i64> = path[start + 1..end]
                .split(' ')
                .map(|a| a.trim_end_matches(".5").parse().unwrap())
                .collect();
            match (&path[start..=start], &args[..]) {
                ("M", &[ax, ay]) => (x, y) = (ax, ay),
                ("m", &[dx, dy]) => (x, y) = (x + dx, y + dy),
                ("h", &[len]) => {
                    for i in x..x + len {
                        grid[y as usize * size + i as usize] = true;
                    }
                    x += len;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        grid
    }

    #[test]
    fn path_draws_exactly_the_codes_modules() {
        let text = "https://mlink.example.workers.dev/mlink/AQ3k9vZp0Q7mX2c8LrT5yWbN1hJ4";
        let code = QrCode::with_error_correction_level(text, EcLevel::L).unwrap();
        let (width, size) = (code.width(), code.width() + 8);
        let svg = qr_svg(text);
        let path = &svg[svg.find(" d=\"").unwrap() + 4..svg.rfind("\"/>").unwrap()];
        let drawn = modules_drawn(path, size);
        let colors = code.to_colors();
        for (i, color) in colors.iter().enumerate() {
            let (x, y) = (i % width + 4, i / width + 4);
            assert_eq!(drawn[y * size + x], *color == Color::Dark, "module {x},{y}");
        }
        // Nothing drawn in the quiet zone.
        let dark = colors.iter().filter(|&&c| c == Color::Dark).count();
        assert_eq!(drawn.iter().filter(|&&d| d).count(), dark);
    }

    #[test]
    fn runs_merge_along_a_row_only() {
        let mut canvas = RunCanvas::new(0, 0, Dark, Dark);
        for (x, y) in [(0, 0), (1, 0), (2, 0), (5, 0), (0, 1)] {
            canvas.draw_dark_pixel(x, y);
        }
        assert_eq!(canvas.runs, vec![(0, 0, 3), (5, 0, 1), (0, 1, 1)]);
        assert_eq!(canvas.into_image(), "M0 0.5h3m2 0h1m-6 1h1");
    }
}
