//! Test-only crash points.
//!
//! In debug builds, `BIGANIMAL_FAULT_POINT=<name>` makes the process stop
//! at the named step and wait there, so a test can kill it with SIGKILL at
//! that exact moment and check that the next run recovers. Release builds
//! compile the check away.

/// Stops here forever when `BIGANIMAL_FAULT_POINT` names this point (debug builds only).
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("BIGANIMAL_FAULT_POINT").is_some_and(|value| value == name) {
        crate::log::notice(&format!("stopped at fault point `{name}`"));
        loop {
            std::thread::park();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
