//! The wire formats of git's and docker's credential-helper protocols:
//! parsing what the caller sends and rendering the response.
//!
//! Everything here is pure: it reads from the reader it is given and
//! returns text, so tests check exact bytes. The commands that fetch the
//! credential and print the answer are in `app::git` and `app::docker`.

pub mod docker;
pub mod git;
pub mod server;

use std::fmt;
use std::io::Read;

/// The maximum input accepted from a caller: 64 KiB. git documents 65535
/// bytes as its longest credential line, and a docker request is one server
/// URL or a small JSON object.
pub const MAX_INPUT: usize = 64 * 1024;

/// Input that does not follow the protocol. The message never contains a
/// value from the input, because a value may be a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// Returns the error for input longer than [`MAX_INPUT`].
pub fn too_long() -> InvalidInput {
    InvalidInput(format!(
        "the input on stdin is longer than {} KiB; a credential request is a few hundred bytes",
        MAX_INPUT / 1024
    ))
}

/// Reads `reader` to its end, at most [`MAX_INPUT`] bytes.
pub fn read_capped(reader: &mut dyn Read) -> Result<Vec<u8>, InvalidInput> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InvalidInput(format!("could not read stdin: {e}")))?;
    if bytes.len() > MAX_INPUT {
        return Err(too_long());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_accepts_limit() {
        let input = vec![b'a'; MAX_INPUT];
        assert_eq!(read_capped(&mut input.as_slice()).unwrap().len(), MAX_INPUT);
    }

    #[test]
    fn read_capped_rejects_more() {
        let input = vec![b'a'; MAX_INPUT + 1];
        let err = read_capped(&mut input.as_slice()).unwrap_err();
        assert!(err.0.contains("longer than 64 KiB"), "{err}");
    }
}
