//! `import-access-key`, and the access-key parts of `status` and `logout`.
//!
//! The key is read from stdin, or from a hidden prompt on the terminal
//! when stdin is one. It is never read from the command line, because the
//! process list and the shell history would keep it.

use super::serve::{access_key_marker, env_access_key, store_failure};
use super::{Context, Failure};
use crate::access_key::{self, profile_option, AccessKey};
use crate::cli::{GlobalArgs, ImportAccessKeyArgs};
use crate::clock::{human_duration, rfc3339, Clock};
use crate::log;
use crate::protocol::read_capped;
use crate::secret::Secret;
use crate::store::file;
use std::io::IsTerminal;
use time::OffsetDateTime;

/// Reads, checks and stores an access key for the profile and API base.
pub(super) fn import(global: &GlobalArgs, args: &ImportAccessKeyArgs) -> Result<u8, Failure> {
    if args.key_argument.is_some() {
        return Err(Failure::usage(
            "`import-access-key` does not take the key as an argument, because the process list and \
             shell history would keep it; pipe it on stdin or run the command without arguments to be asked for it",
        ));
    }
    let context = Context::new(global)?;
    let now = context.clock.now();
    let expires_at = expiry(args, now)?;
    let key = read_key()?;

    let settings = &context.settings;
    let record = access_key::record(key, now, expires_at);
    context
        .store
        .save_access_key(&settings.profile, &settings.api_url, &record)
        .map_err(store_failure)?;
    let marker = access_key_marker(&settings.state_dir, &settings.profile, &settings.api_url);
    file::create_private_dir(&settings.state_dir)
        .and_then(|()| file::write_atomically(&marker, b""))
        .map_err(|e| Failure::general(format!("could not write `{}`: {e}", marker.display())))?;
    log::notice(&import_notice(&settings.profile, context.store.name(), expires_at));
    if std::env::var_os(access_key::ENV).is_some_and(|v| !v.is_empty()) {
        log::notice(&format!("`{}` is set in this environment and is used instead of the stored key", access_key::ENV));
    }
    Ok(0)
}

/// Works out the expiry from `--expires-in` or `--expires-at`; it must be
/// in the future.
fn expiry(args: &ImportAccessKeyArgs, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, Failure> {
    let at = match (args.expires_in, args.expires_at) {
        (Some(duration), _) => now + duration,
        (None, Some(at)) => at,
        (None, None) => return Ok(None),
    };
    if at <= now {
        return Err(Failure::usage(format!(
            "the expiry {} is not in the future; give the expiry the BigAnimal portal showed for the key",
            rfc3339(at)
        )));
    }
    Ok(Some(at))
}

/// Reads the key: from a hidden prompt when stdin is a terminal, else all
/// of stdin; one trailing newline is removed.
fn read_key() -> Result<Secret, Failure> {
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("BigAnimal access key (input is hidden): ")
            .map_err(|e| Failure::general(format!("could not read the key from the terminal: {e}")))?
    } else {
        let bytes = read_capped(&mut std::io::stdin().lock()).map_err(|e| Failure::usage(e.to_string()))?;
        String::from_utf8(bytes).map_err(|_| Failure::usage("invalid access key: it is not valid UTF-8"))?
    };
    access_key::validate(access_key::strip_one_newline(&text))
        .map_err(|why| Failure::usage(format!("invalid access key: {why}")))
}

fn import_notice(profile: &str, store: &str, expires_at: Option<OffsetDateTime>) -> String {
    let expiry = match expires_at {
        Some(at) => format!("it expires at {}", rfc3339(at)),
        None => "no expiry was given, so the helper cannot warn before the key stops working \
                 (import it again with `--expires-in` or `--expires-at`)"
            .to_string(),
    };
    format!("stored the access key of profile `{profile}` in the {store} store; {expiry}")
}

/// Deletes the stored access key for `logout` and reports what stays in use.
pub(super) fn forget_stored_key(context: &Context) -> Result<(), Failure> {
    let settings = &context.settings;
    let stored = context
        .store
        .load_access_key(&settings.profile, &settings.api_url)
        .map_err(store_failure)?;
    if stored.is_some() {
        context
            .store
            .delete_access_key(&settings.profile, &settings.api_url)
            .map_err(store_failure)?;
        log::notice(&format!("deleted the stored access key of profile `{}`", settings.profile));
    }
    let _ = std::fs::remove_file(access_key_marker(&settings.state_dir, &settings.profile, &settings.api_url));
    if std::env::var_os(access_key::ENV).is_some_and(|v| !v.is_empty()) {
        log::notice(&format!("`{}` is still set in this environment and stays in use", access_key::ENV));
    }
    Ok(())
}

/// The access-key state for `status`.
pub(super) struct KeyStatus {
    /// The report line; never contains the key.
    pub line: String,
    /// `Some(true)` for a usable key, `Some(false)` for an expired one,
    /// `None` when the profile has no key.
    pub usable: Option<bool>,
    /// The reason the key cannot be used, with the fix.
    pub problem: Option<String>,
    /// `environment` or `stored`, when the profile has a key.
    pub source: Option<&'static str>,
    /// The expiry given at import, when known.
    pub expires_at: Option<OffsetDateTime>,
}

/// Describes the access key in use, if any, without showing it.
pub(super) fn key_status(context: &Context) -> Result<KeyStatus, Failure> {
    let settings = &context.settings;
    let now = context.clock.now();
    let key = match env_access_key()? {
        Some(key) => Some(key),
        None => stored_key_unchecked(context)?,
    };
    let Some(key) = key else {
        return Ok(KeyStatus {
            line: "access key:     none".to_string(),
            usable: None,
            problem: None,
            source: None,
            expires_at: None,
        });
    };
    let problem = key.check_expiry(now, &settings.profile).err();
    Ok(KeyStatus {
        line: format!("access key:     in use, {}; {}", key.origin(), expiry_text(&key, now, &settings.profile)),
        usable: Some(problem.is_none()),
        problem,
        source: Some(match key.source {
            access_key::KeySource::Environment => "environment",
            access_key::KeySource::Store => "stored",
        }),
        expires_at: key.expires_at,
    })
}

/// Returns the imported key whatever its expiry, as `get` finds it.
fn stored_key_unchecked(context: &Context) -> Result<Option<AccessKey>, Failure> {
    let settings = &context.settings;
    if !access_key_marker(&settings.state_dir, &settings.profile, &settings.api_url).exists() {
        return Ok(None);
    }
    let record = context
        .store
        .load_access_key(&settings.profile, &settings.api_url)
        .map_err(store_failure)?;
    Ok(record.map(AccessKey::from_record))
}

fn expiry_text(key: &AccessKey, now: OffsetDateTime, profile: &str) -> String {
    match key.expires_at {
        Some(at) if at > now => format!(
            "valid until {} ({} left)",
            rfc3339(at),
            human_duration((at - now).whole_seconds())
        ),
        Some(at) => format!(
            "expired at {}; import a new key with `biganimal-credential import-access-key{}`",
            rfc3339(at),
            profile_option(profile)
        ),
        None => "expiry unknown".to_string(),
    }
}
