//! A QR code of the verification URL, drawn with Unicode half blocks: each
//! character cell shows two modules, one above the other, so the code
//! takes half as many lines as it is wide.
//!
//! Light modules are drawn as block characters and dark modules as spaces,
//! which reads correctly on the usual light-on-dark terminal. With colour
//! allowed, each line also sets white blocks on a black background, so the
//! code scans on light themes too. Phone cameras read both.

use qrcode::{Color, QrCode};

/// Light modules around the code. ISO/IEC 18004 requires 4, but 2 keeps the
/// code compact, and phone cameras read it on a screen.
const QUIET_ZONE: usize = 2;

/// SGR sequences for bright white on black, and the reset.
const COLOR_ON: &str = "\x1b[97;40m";
const COLOR_OFF: &str = "\x1b[0m";

/// A rendered code: one string per terminal line, without a newline.
pub struct QrLines {
    /// The lines, each [`QrLines::width`] cells wide.
    pub lines: Vec<String>,
    /// The width in terminal cells.
    pub width: usize,
}

/// Renders `data` as half-block lines; `None` when it does not fit in a QR
/// code (more than about 2,300 bytes).
pub fn render(data: &str, color: bool) -> Option<QrLines> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let size = modules + 2 * QUIET_ZONE;
    // Outside the code is quiet zone (light); below the last row is nothing.
    let light = |x: usize, y: usize| -> bool {
        if y >= size {
            return false;
        }
        let inside = (QUIET_ZONE..QUIET_ZONE + modules).contains(&x) && (QUIET_ZONE..QUIET_ZONE + modules).contains(&y);
        !inside || colors[(y - QUIET_ZONE) * modules + (x - QUIET_ZONE)] == Color::Light
    };

    let mut lines = Vec::with_capacity(size.div_ceil(2));
    for y in (0..size).step_by(2) {
        let mut line = String::with_capacity(size * 3 + COLOR_ON.len() + COLOR_OFF.len());
        if color {
            line.push_str(COLOR_ON);
        }
        for x in 0..size {
            line.push(match (light(x, y), light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        if color {
            line.push_str(COLOR_OFF);
        }
        lines.push(line);
    }
    Some(QrLines { lines, width: size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_blocks_halve_the_height() {
        let qr = render("https://auth.example/activate?user_code=ABCD-EFGH", false).unwrap();
        assert_eq!(qr.lines.len(), qr.width.div_ceil(2));
        for line in &qr.lines {
            assert_eq!(line.chars().count(), qr.width, "{line:?}");
            assert!(line.chars().all(|c| "█▀▄ ".contains(c)), "{line:?}");
        }
    }

    #[test]
    fn quiet_zone_is_light() {
        let qr = render("https://auth.example/activate", false).unwrap();
        assert!(qr.lines[0].chars().all(|c| c == '█'), "the top two rows are quiet zone: {:?}", qr.lines[0]);
        let last = qr.lines.last().unwrap();
        // The size is odd, so the last line holds one quiet row on top.
        assert!(last.chars().all(|c| c == '▀'), "{last:?}");
    }

    #[test]
    fn finder_pattern_starts_dark() {
        let qr = render("https://auth.example/activate", false).unwrap();
        // Line 1 shows code rows 0 and 1 from column 2: the finder
        // pattern's dark top edge above its dark-light-dark ring.
        let second: Vec<char> = qr.lines[1].chars().collect();
        assert_eq!(second[0..9], ['█', '█', ' ', '▄', '▄', '▄', '▄', '▄', ' '], "{:?}", qr.lines[1]);
    }

    #[test]
    fn color_wraps_each_line() {
        let qr = render("https://auth.example/activate", true).unwrap();
        for line in &qr.lines {
            assert!(line.starts_with(COLOR_ON) && line.ends_with(COLOR_OFF), "{line:?}");
        }
    }
}
