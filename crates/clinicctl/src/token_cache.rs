//! The access token `clinicctl login` caches for the other commands: one file, readable by its owner
//! only. It is written to a new file created with mode 0600 and renamed into place, so it is never
//! readable by others, not even for a moment, and a cache left with a wider mode is replaced.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use anyhow::Context;

/// `$CLINICCTL_TOKEN_FILE`, else `$XDG_CONFIG_HOME/clinicctl/token`, else `~/.config/clinicctl/token`.
pub fn path() -> anyhow::Result<PathBuf> {
    path_from(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
}

fn path_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> anyhow::Result<PathBuf> {
    if let Some(file) = var("CLINICCTL_TOKEN_FILE") {
        return Ok(file.into());
    }
    let config = match var("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            var("HOME")
                .context("cannot place the token cache: set CLINICCTL_TOKEN_FILE or HOME")?,
        )
        .join(".config"),
    };
    Ok(config.join("clinicctl").join("token"))
}

/// Replaces the cached token.
pub fn save(path: &Path, token: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!(".clinicctl-token.{}.tmp", std::process::id()));
    let written = (|| -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(token.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("write {}", path.display()));
    }
    Ok(())
}

/// The cached token, `None` when there is none.
pub fn load(path: &Path) -> anyhow::Result<Option<String>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    if let Ok(meta) = fs::metadata(path)
        && meta.mode() & 0o077 != 0
    {
        eprintln!(
            "clinicctl: warning: {} is readable by others (mode {:o}); `clinicctl login` rewrites it as 0600",
            path.display(),
            meta.mode() & 0o777
        );
    }
    let token = text.trim();
    Ok((!token.is_empty()).then(|| token.to_owned()))
}

/// Deletes the cached token; `false` when there was none.
pub fn remove(path: &Path) -> anyhow::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("delete {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(
        pairs: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).into())
        }
    }

    #[test]
    fn the_explicit_file_wins_then_xdg_then_home() {
        let all = [
            ("CLINICCTL_TOKEN_FILE", "/t/tok"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(path_from(env(&all)).unwrap(), PathBuf::from("/t/tok"));
        assert_eq!(
            path_from(env(&all[1..])).unwrap(),
            PathBuf::from("/x/clinicctl/token")
        );
        assert_eq!(
            path_from(env(&all[2..])).unwrap(),
            PathBuf::from("/h/.config/clinicctl/token")
        );
        assert!(path_from(env(&[])).is_err());
    }

    #[test]
    fn a_saved_token_is_owner_only_and_replaces_a_wider_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("token");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();

        save(&path, "new-token").unwrap();

        assert_eq!(
            format!("{:o}", fs::metadata(&path).unwrap().mode() & 0o777),
            "600"
        );
        assert_eq!(load(&path).unwrap().as_deref(), Some("new-token"));
        assert!(remove(&path).unwrap());
        assert_eq!(load(&path).unwrap(), None);
        assert!(!remove(&path).unwrap());
    }
}
