//! What a person sees on stderr during a device login.
//!
//! The screen shows the verification URL and the user code (RFC 8628
//! §3.3), never the device code. On a terminal it adds a QR code of the
//! complete verification URL (when the terminal is large enough), a
//! countdown redrawn once a second while the helper waits, and bold text
//! unless `NO_COLOR` is set or `TERM` is `dumb`. Elsewhere (kubectl
//! without a terminal, CI logs) the text is printed once, plain.
//!
//! While the helper waits, Ctrl-C ends the login with exit code 130 and
//! leaves the store as it was (see [`interrupt`]).

pub mod browser;
pub mod countdown;
pub mod interrupt;
pub mod qr;

use crate::clock::human_duration;
use crate::log;
use crate::oauth::DeviceAuthorization;
use crate::session::LoginPrompt;
use countdown::Countdown;
use std::io::Write;
use std::time::{Duration, Instant};

/// Settings of the login screen.
#[derive(Debug, Clone, Copy)]
pub struct PromptOptions {
    /// stderr is a terminal: QR code, countdown, line clearing.
    pub terminal: bool,
    /// Bold text and QR colours are allowed (a terminal without `NO_COLOR`).
    pub color: bool,
    /// Open the verification page in a browser (`--browser`).
    pub open_browser: bool,
}

/// The [`LoginPrompt`] that writes to stderr.
pub struct StderrPrompt {
    options: PromptOptions,
    countdown: Option<Countdown>,
}

impl StderrPrompt {
    /// Creates the prompt; nothing is written or probed until a login starts.
    pub fn new(options: PromptOptions) -> Self {
        StderrPrompt {
            options,
            countdown: None,
        }
    }
}

/// Tells whether colour may be used on a terminal: not with `NO_COLOR`
/// set to anything non-empty (no-color.org), nor with `TERM=dumb`.
pub fn color_allowed() -> bool {
    crate::config::non_empty_env("NO_COLOR").is_none() && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}

/// Text styling for the screen: bold when colour is allowed.
pub struct Style {
    /// Use SGR sequences.
    pub color: bool,
}

impl Style {
    fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Returns the URL to open or scan: the complete one, which carries the
/// code, when the issuer sent it.
pub fn complete_url(authorization: &DeviceAuthorization) -> &str {
    authorization
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&authorization.verification_uri)
}

/// Renders the login instructions, with `qr` lines when given.
pub fn login_screen(authorization: &DeviceAuthorization, qr: Option<&[String]>, style: &Style) -> String {
    let code = style.bold(&authorization.user_code);
    let mut text = String::new();
    text.push_str("\nTo sign in to BigAnimal, open this page in a browser:\n\n");
    text.push_str(&format!("    {}\n\n", style.bold(&authorization.verification_uri)));
    text.push_str(&format!("and enter this code:   {code}\n"));

    let complete = authorization.verification_uri_complete.as_deref();
    match (qr, complete) {
        (Some(_), Some(_)) => text.push_str(&format!(
            "\nOr scan this QR code, or open the link below it; both fill in the code.\n\
             Check that the page shows {code} before you approve.\n"
        )),
        (Some(_), None) => text.push_str("\nOr scan this QR code to open the page.\n"),
        (None, Some(_)) => text.push_str(&format!(
            "\nOr open this link, which fills in the code; check that the page shows {code}:\n"
        )),
        (None, None) => {}
    }
    if let Some(lines) = qr {
        text.push('\n');
        for line in lines {
            text.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(complete) = complete {
        text.push_str(&format!("\n    {complete}\n"));
    }
    text.push_str(&format!(
        "\nThe code expires in {}.\n\n",
        human_duration(authorization.expires_in as i64)
    ));
    text
}

/// Lines of the screen besides the QR code, plus room for the countdown
/// and a message: the QR code is left out when the terminal is shorter.
const SCREEN_TEXT_LINES: usize = 16;

impl StderrPrompt {
    /// Renders the QR code when stderr is a terminal large enough for it.
    fn qr_lines(&self, authorization: &DeviceAuthorization) -> Option<Vec<String>> {
        if !self.options.terminal {
            return None;
        }
        let qr = qr::render(complete_url(authorization), self.options.color)?;
        let (columns, rows) = terminal_size().unwrap_or((80, 24));
        let fits = qr.width + 4 <= columns && qr.lines.len() + SCREEN_TEXT_LINES <= rows;
        if !fits {
            log::info(&format!(
                "the terminal ({columns}x{rows}) is too small for the {}x{} QR code; leaving it out",
                qr.width,
                qr.lines.len()
            ));
        }
        fits.then_some(qr.lines)
    }

    fn open_browser(&self, authorization: &DeviceAuthorization) {
        match browser::open(complete_url(authorization)) {
            Ok(program) => log::notice(&format!("opened the page with `{program}`")),
            Err(why) => log::notice(&format!("could not open a browser ({why}); open the page above yourself")),
        }
    }
}

impl LoginPrompt for StderrPrompt {
    fn show(&mut self, authorization: &DeviceAuthorization) {
        let qr = self.qr_lines(authorization);
        let style = Style { color: self.options.color };
        let text = login_screen(authorization, qr.as_deref(), &style);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        if self.options.open_browser {
            self.open_browser(authorization);
        }
        interrupt::install(self.options.terminal);
    }

    fn waiting(&mut self, seconds_left: i64) {
        if !self.options.terminal {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(seconds_left.max(0) as u64);
        match &self.countdown {
            Some(countdown) => countdown.set_deadline(deadline),
            None => self.countdown = Some(Countdown::start(deadline, self.options.color)),
        }
    }

    fn finished(&mut self) {
        if let Some(countdown) = self.countdown.take() {
            countdown.stop();
        }
        interrupt::uninstall();
    }
}

/// Returns the terminal's columns and rows from stderr, when it is one.
#[cfg(unix)]
pub(crate) fn terminal_size() -> Option<(usize, usize)> {
    // SAFETY: TIOCGWINSZ fills a `winsize` that lives on this stack frame.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) };
    (result == 0 && size.ws_col > 0 && size.ws_row > 0).then(|| (usize::from(size.ws_col), usize::from(size.ws_row)))
}

#[cfg(not(unix))]
pub(crate) fn terminal_size() -> Option<(usize, usize)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn authorization(complete: bool) -> DeviceAuthorization {
        DeviceAuthorization {
            device_code: Secret::new("DEVICE-CODE-SECRET"),
            user_code: "ABCD-EFGH".to_string(),
            verification_uri: "https://auth.example/activate".to_string(),
            verification_uri_complete: complete.then(|| "https://auth.example/activate?user_code=ABCD-EFGH".to_string()),
            expires_in: 900,
            interval: 5.0,
        }
    }

    #[test]
    fn screen_shows_url_and_code_not_device_code() {
        let text = login_screen(&authorization(true), None, &Style { color: false });
        assert!(text.contains("\n    https://auth.example/activate\n"), "{text}");
        assert!(text.contains("enter this code:   ABCD-EFGH\n"), "{text}");
        assert!(text.contains("\n    https://auth.example/activate?user_code=ABCD-EFGH\n"), "{text}");
        assert!(text.contains("\nThe code expires in 15m 0s.\n"), "{text}");
        assert!(!text.contains("DEVICE-CODE-SECRET"), "{text}");
        assert!(!text.contains('\x1b'), "no escape sequences without colour: {text}");
    }

    #[test]
    fn screen_places_qr_before_complete_link() {
        let qr = qr::render(complete_url(&authorization(true)), false).unwrap();
        let text = login_screen(&authorization(true), Some(&qr.lines), &Style { color: false });
        let qr_at = text.find(&qr.lines[1]).expect("the QR lines are on the screen");
        let link_at = text.find("?user_code=").unwrap();
        assert!(qr_at < link_at, "{text}");
        assert!(text.contains("Or scan this QR code"), "{text}");
    }

    #[test]
    fn screen_without_complete_uri_scans_plain_page() {
        let auth = authorization(false);
        assert_eq!(complete_url(&auth), "https://auth.example/activate");
        let text = login_screen(&auth, None, &Style { color: false });
        assert!(!text.contains("Or "), "nothing to offer besides the page: {text}");
    }

    #[test]
    fn color_makes_code_bold() {
        let text = login_screen(&authorization(true), None, &Style { color: true });
        assert!(text.contains("\x1b[1mABCD-EFGH\x1b[0m"), "{text}");
    }

    #[test]
    fn countdown_line_erases_and_counts() {
        let line = countdown::line(899, false, None);
        assert!(line.starts_with(countdown::CLEAR_LINE), "{line:?}");
        assert!(line.contains("14m 59s left"), "{line:?}");
        assert!(countdown::line(-3, false, None).contains(" 0s left"));
    }

    #[test]
    fn countdown_line_fits_narrow_terminals() {
        for columns in [80, 66, 40, 20, 5] {
            let line = countdown::line(899, true, Some(columns));
            let visible = line.trim_start_matches(countdown::CLEAR_LINE).replace("\x1b[1m", "").replace("\x1b[0m", "");
            assert!(visible.contains("14m 59s left"), "{columns}: {line:?}");
            assert!(visible.chars().count() < columns || columns < 15, "{columns}: {visible:?}");
        }
        let wide = countdown::line(899, false, Some(120));
        assert!(wide.contains("(Ctrl-C to cancel)"), "{wide:?}");
    }
}
