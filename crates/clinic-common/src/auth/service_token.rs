//! The token a service presents to the services it calls. Read from its file at start and again
//! whenever the file changes (a rotated token — re-minted by an operator, a Kubernetes Secret
//! update — is used from the next call on, without a restart).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use secrecy::SecretString;

#[derive(Clone)]
pub struct ServiceToken(Arc<Inner>);

struct Inner {
    /// `None`: a fixed token (tests).
    file: Option<PathBuf>,
    current: Mutex<Current>,
}

struct Current {
    /// What the file looked like when `token` was read: modification time and length.
    seen: Option<(SystemTime, u64)>,
    /// When the file was last looked at: at most once per [`LOOK_EVERY`], not on every call.
    looked: Instant,
    token: SecretString,
}

/// How often a call looks whether the token file changed.
const LOOK_EVERY: Duration = Duration::from_secs(1);

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.file {
            Some(path) => write!(f, "ServiceToken(file {})", path.display()),
            None => f.write_str("ServiceToken([redacted])"),
        }
    }
}

fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

fn read(path: &Path) -> anyhow::Result<SecretString> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read token file {}: {e}", path.display()))?;
    let token = raw.trim();
    anyhow::ensure!(!token.is_empty(), "token file {} is empty", path.display());
    Ok(SecretString::from(token.to_owned()))
}

impl ServiceToken {
    /// A token that never changes.
    pub fn fixed(token: impl Into<String>) -> Self {
        Self(Arc::new(Inner {
            file: None,
            current: Mutex::new(Current {
                seen: None,
                looked: Instant::now(),
                token: SecretString::from(token.into()),
            }),
        }))
    }

    /// Reads `path` now (an error when it cannot be read or is empty), and again on every
    /// [`current`](Self::current) after its modification time or length changed.
    pub fn from_file(path: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let path = path.into();
        let seen = stamp(&path).ok();
        let token = read(&path)?;
        Ok(Self(Arc::new(Inner {
            file: Some(path),
            current: Mutex::new(Current {
                seen,
                looked: Instant::now(),
                token,
            }),
        })))
    }

    /// The token to send now. A file that changed is read again (looked at no more than once a
    /// second); if it cannot be read (mid-rotation, say) the token read last is kept and a later call
    /// tries again.
    pub fn current(&self) -> SecretString {
        let mut current = self.0.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.0.file
            && current.looked.elapsed() >= LOOK_EVERY
        {
            current.looked = Instant::now();
            let now = stamp(path).ok();
            if now.is_some() && now != current.seen {
                match read(path) {
                    Ok(token) => {
                        tracing::info!(file = %path.display(), "service token re-read");
                        current.seen = now;
                        current.token = token;
                    }
                    Err(e) => tracing::warn!(error = %e, "keeping the service token read last"),
                }
            }
        }
        current.token.clone()
    }
}

impl From<String> for ServiceToken {
    fn from(token: String) -> Self {
        Self::fixed(token)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    /// Makes the next call look at the file (as it would a second later).
    fn due(token: &ServiceToken) -> &ServiceToken {
        let mut current = token.0.current.lock().unwrap();
        current.looked = Instant::now().checked_sub(LOOK_EVERY).unwrap();
        drop(current);
        token
    }

    #[test]
    fn a_file_is_looked_at_no_more_than_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.token");
        std::fs::write(&path, "first\n").unwrap();
        let token = ServiceToken::from_file(&path).unwrap();
        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(
            token.current().expose_secret(),
            "first",
            "not yet looked at"
        );
        assert_eq!(due(&token).current().expose_secret(), "second-token");
    }

    #[test]
    fn a_rewritten_token_file_is_used_from_the_next_call_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.token");
        std::fs::write(&path, "first\n").unwrap();
        let token = ServiceToken::from_file(&path).unwrap();
        assert_eq!(due(&token).current().expose_secret(), "first");

        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(due(&token).current().expose_secret(), "second-token");

        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(
            due(&token).current().expose_secret(),
            "second-token",
            "an empty file mid-rotation keeps the last token"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(due(&token).current().expose_secret(), "second-token");
        std::fs::write(&path, "third\n").unwrap();
        assert_eq!(due(&token).current().expose_secret(), "third");
    }

    #[test]
    fn an_unreadable_or_empty_file_fails_at_start_and_debug_shows_no_token() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ServiceToken::from_file(dir.path().join("missing")).is_err());
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        assert!(ServiceToken::from_file(dir.path().join("empty")).is_err());
        assert_eq!(
            format!("{:?}", ServiceToken::fixed("secret")),
            "ServiceToken([redacted])"
        );
    }
}
