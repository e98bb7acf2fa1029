//! `status`: what a profile would serve, as a report for people or, with
//! `--json`, one JSON object for scripts. It reads the store and the
//! cached provider discovery, and makes no network request. No field contains
//! a secret: tokens and keys are described, never shown.
//!
//! The exit code is 0 when `get` can serve a credential without a device
//! login (`usable` in the JSON), else 3, with the fix on stderr.

use super::access::{self, KeyStatus};
use super::{Context, Failure};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::clock::{from_unix, human_duration, rfc3339, Clock};
use crate::identity::Identity;
use crate::output;
use crate::session::REFRESH_TOKEN_LIFETIME;
use crate::store::record::{RefreshRecord, TokenRecord};
use serde::Serialize;
use time::OffsetDateTime;

/// The whole report; the JSON field names are documented in
/// docs/configuration.md.
#[derive(Serialize)]
struct Report {
    profile: String,
    api_url: String,
    store: &'static str,
    account: Option<String>,
    token: TokenState,
    refresh_token: RefreshState,
    access_key: KeyState,
    usable: bool,
}

/// The cached BigAnimal token.
#[derive(Serialize)]
struct TokenState {
    /// `valid`, `expired` or `none`.
    state: &'static str,
    expires_at: Option<String>,
    /// Seconds until expiry; negative once expired.
    seconds_left: Option<i64>,
}

/// The stored refresh token.
#[derive(Serialize)]
struct RefreshState {
    present: bool,
    login_at: Option<String>,
    rotated_at: Option<String>,
    /// Seconds since the login that issued it.
    age_seconds: Option<i64>,
    /// Whether `get` would send it: younger than its lifetime and no
    /// earlier refresh with it was interrupted.
    usable: bool,
    /// When its lifetime ends (login plus 30 days).
    usable_until: Option<String>,
}

/// The access key in use.
#[derive(Serialize)]
struct KeyState {
    present: bool,
    /// `environment` (`BA_ACCESS_KEY`) or `stored` (`import-access-key`).
    source: Option<&'static str>,
    expires_at: Option<String>,
    usable: Option<bool>,
}

/// Prints the report and returns the exit decision described above.
pub(super) fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<(), Failure> {
    let context = Context::new(global)?;
    let settings = &context.settings;
    let now = context.clock.now();
    let (token, refresh) = stored_records(&context)?;
    let key = access::key_status(&context)?;

    let token_state = token_state(token.as_ref(), now);
    let refresh_state = refresh_state(refresh.as_ref(), now);
    let login_usable = token_state.state == "valid" || refresh_state.usable;
    let usable = key.usable.unwrap_or(login_usable);
    let report = Report {
        profile: settings.profile.clone(),
        api_url: settings.api_url.clone(),
        store: context.store.name(),
        account: refresh.as_ref().and_then(|r| r.email.clone()),
        token: token_state,
        refresh_token: refresh_state,
        access_key: KeyState {
            present: key.usable.is_some(),
            source: key.source,
            expires_at: key.expires_at.map(rfc3339),
            usable: key.usable,
        },
        usable,
    };

    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&report).expect("the report always serializes");
        text.push('\n');
        text
    } else {
        human_report(&report, refresh.as_ref(), &key, now)
    };
    output::write_stdout(&text).map_err(|e| Failure::general(format!("could not write to stdout: {e}")))?;
    exit_decision(&report, key, &settings.profile, &global.login_command())
}

/// Loads the token and refresh records, when a discovery is cached.
fn stored_records(context: &Context) -> Result<(Option<TokenRecord>, Option<RefreshRecord>), Failure> {
    let settings = &context.settings;
    let identity = context
        .discovery
        .load(&settings.api_url)
        .and_then(|provider| Identity::new(&settings.profile, &settings.api_url, &provider, settings.free_trial).ok());
    let Some(identity) = identity else {
        return Ok((None, None));
    };
    let key = identity.key();
    let token = context.store.load_token(&key).map_err(|e| Failure::general(e.to_string()))?;
    let refresh = context.store.load_refresh(&key).map_err(|e| Failure::general(e.to_string()))?;
    Ok((token, refresh))
}

fn token_state(record: Option<&TokenRecord>, now: OffsetDateTime) -> TokenState {
    let Some(record) = record else {
        return TokenState {
            state: "none",
            expires_at: None,
            seconds_left: None,
        };
    };
    let left = record.expires_at.saturating_sub(now.unix_timestamp());
    TokenState {
        state: if left > 0 { "valid" } else { "expired" },
        expires_at: Some(rfc3339(from_unix(record.expires_at))),
        seconds_left: Some(left),
    }
}

fn refresh_state(record: Option<&RefreshRecord>, now: OffsetDateTime) -> RefreshState {
    let Some(record) = record else {
        return RefreshState {
            present: false,
            login_at: None,
            rotated_at: None,
            age_seconds: None,
            usable: false,
            usable_until: None,
        };
    };
    let lifetime = REFRESH_TOKEN_LIFETIME.as_secs() as i64;
    let age = now.unix_timestamp().saturating_sub(record.login_at);
    RefreshState {
        present: true,
        login_at: Some(rfc3339(from_unix(record.login_at))),
        rotated_at: Some(rfc3339(from_unix(record.rotated_at))),
        age_seconds: Some(age),
        usable: age < lifetime && record.refresh_started_at.is_none(),
        usable_until: Some(rfc3339(from_unix(record.login_at.saturating_add(lifetime)))),
    }
}

/// Renders the report as aligned lines for a person.
fn human_report(report: &Report, refresh: Option<&RefreshRecord>, key: &KeyStatus, now: OffsetDateTime) -> String {
    let token = match (&report.token.expires_at, report.token.seconds_left) {
        (Some(at), Some(left)) if left > 0 => format!("valid until {at} ({} left)", human_duration(left)),
        (Some(at), Some(_)) => format!("expired at {at}"),
        _ => "none".to_string(),
    };
    let refresh_line = match refresh {
        Some(record) => {
            let age = now.unix_timestamp().saturating_sub(record.login_at);
            let left = (REFRESH_TOKEN_LIFETIME.as_secs() as i64).saturating_sub(age);
            let usable = if record.refresh_started_at.is_some() {
                "not usable: an earlier refresh was interrupted; a new login is needed".to_string()
            } else if left > 0 {
                format!("usable for {} more", human_duration(left))
            } else {
                "past its lifetime; a new login is needed".to_string()
            };
            format!(
                "from a login {} ago, last rotated {} ago, {usable}",
                human_duration(age),
                human_duration(now.unix_timestamp().saturating_sub(record.rotated_at)),
            )
        }
        None => "none".to_string(),
    };
    let lines = [
        format!("profile:        {}", report.profile),
        format!("API:            {}", report.api_url),
        format!("store:          {}", report.store),
        format!("account:        {}", report.account.as_deref().unwrap_or("unknown")),
        format!("token:          {token}"),
        format!("refresh token:  {refresh_line}"),
        key.line.clone(),
    ];
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Returns `Ok` when the profile can serve a credential, else exit code 3
/// with the fix: a new access key, or a login.
fn exit_decision(report: &Report, key: KeyStatus, profile: &str, login_command: &str) -> Result<(), Failure> {
    if let (Some(false), Some(message)) = (key.usable, key.problem) {
        return Err(Failure { code: 3, message });
    }
    if report.usable {
        return Ok(());
    }
    Err(Failure {
        code: 3,
        message: format!("login required: profile `{profile}` has no usable login; run `{login_command}`"),
    })
}
