//! What a person sees on stderr during a device login.
//!
//! The screen shows the verification URL and the user code (RFC 8628
//! §3.3), never the device code. On a terminal a countdown line is
//! redrawn in place while the helper waits; elsewhere (kubectl without a
//! terminal, CI logs) the text is printed once.

use crate::clock::human_duration;
use crate::oauth::DeviceAuthorization;
use crate::session::LoginPrompt;
use std::io::Write;

/// The [`LoginPrompt`] that writes to stderr.
pub struct StderrPrompt {
    terminal: bool,
    color: bool,
    countdown_shown: bool,
}

impl StderrPrompt {
    /// Creates the prompt; `terminal` enables the countdown, `color` bold text.
    pub fn new(terminal: bool, color: bool) -> Self {
        StderrPrompt {
            terminal,
            color,
            countdown_shown: false,
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Renders the login instructions.
pub fn login_screen(authorization: &DeviceAuthorization, bold: &dyn Fn(&str) -> String) -> String {
    let mut text = String::new();
    text.push_str("\nTo sign in to BigAnimal, open this page in a browser:\n\n");
    text.push_str(&format!("    {}\n\n", bold(&authorization.verification_uri)));
    text.push_str(&format!(
        "and enter this code:   {}\n",
        bold(&authorization.user_code)
    ));
    if let Some(complete) = &authorization.verification_uri_complete {
        text.push_str(&format!(
            "\nOr open this link, which fills in the code for you, and check that the page shows the code above:\n\n    {complete}\n"
        ));
    }
    text.push_str(&format!(
        "\nThe code expires in {}.\n\n",
        human_duration(authorization.expires_in as i64)
    ));
    text
}

impl LoginPrompt for StderrPrompt {
    fn show(&mut self, authorization: &DeviceAuthorization) {
        let text = login_screen(authorization, &|s| self.bold(s));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    fn waiting(&mut self, seconds_left: i64) {
        if !self.terminal {
            return;
        }
        let line = format!(
            "\r\x1b[2KWaiting for approval in the browser… {} left (Ctrl-C to cancel)",
            human_duration(seconds_left.max(0))
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        self.countdown_shown = true;
    }

    fn finished(&mut self) {
        if self.countdown_shown {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn screen_shows_url_and_code_not_device_code() {
        let authorization = DeviceAuthorization {
            device_code: Secret::new("DEVICE-CODE-SECRET"),
            user_code: "ABCD-EFGH".to_string(),
            verification_uri: "https://auth.example/activate".to_string(),
            verification_uri_complete: Some("https://auth.example/activate?user_code=ABCD-EFGH".to_string()),
            expires_in: 900,
            interval: 5.0,
        };
        let text = login_screen(&authorization, &|s| s.to_string());
        assert!(text.contains("https://auth.example/activate\n"), "{text}");
        assert!(text.contains("ABCD-EFGH"), "{text}");
        assert!(text.contains("15m 0s"), "{text}");
        assert!(!text.contains("DEVICE-CODE-SECRET"), "{text}");
    }
}
