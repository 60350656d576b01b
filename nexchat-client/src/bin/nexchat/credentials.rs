//! The signed-in session, kept between runs in the platform's config directory
//! (`~/.config/nexchat/session.json` on Linux) in a file only its user can read. It holds the
//! login's token and the identity key, never the password or anything derived from it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nexchat_client::Session;

/// Where the session file lives.
#[derive(Debug, Clone)]
pub struct Credentials {
    dir: PathBuf,
}

impl Credentials {
    /// `dir` when given (`--config-dir`, `NEXCHAT_CONFIG_DIR`), else the platform's config
    /// directory for nexchat.
    pub fn new(dir: Option<PathBuf>) -> Result<Self, String> {
        let dir = match dir {
            Some(dir) => dir,
            None => directories::ProjectDirs::from("org", "nexchat", "nexchat")
                .ok_or("no home directory to keep the session in; pass --config-dir")?
                .config_dir()
                .to_path_buf(),
        };
        Ok(Self { dir })
    }

    fn file(&self) -> PathBuf {
        self.dir.join("session.json")
    }

    /// The kept session, `None` when there is none.
    pub fn load(&self) -> Result<Option<Session>, String> {
        let file = self.file();
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("{}: {error}", file.display())),
        };
        check_private(&file)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| format!("{} is damaged ({error}); sign in again", file.display()))
    }

    /// Writes the session: a new file, readable and writable by its owner only (0600; the
    /// directory, when this creates it, 0700), then renamed over the old one, so no reader sees
    /// half a file.
    pub fn save(&self, session: &Session) -> Result<(), String> {
        create_private_dir(&self.dir)?;
        let text = serde_json::to_vec_pretty(session).expect("a session serializes");
        let partial = self.dir.join(".session.json.partial");
        let _ = fs::remove_file(&partial);
        let mut file = private_file(&partial)?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(|error| format!("{}: {error}", partial.display()))?;
        fs::rename(&partial, self.file())
            .map_err(|error| format!("{}: {error}", self.dir.display()))
    }

    /// Forgets the session.
    pub fn clear(&self) -> Result<(), String> {
        match fs::remove_file(self.file()) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(format!("{}: {error}", self.file().display())),
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| format!("{}: {error}", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))
}

#[cfg(unix)]
fn private_file(path: &Path) -> Result<fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| format!("{}: {error}", path.display()))
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> Result<fs::File, String> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|error| format!("{}: {error}", path.display()))
}

/// Refuses a session file others can read, as ssh refuses such a key: the key in it is the
/// account's.
#[cfg(unix)]
fn check_private(file: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(file)
        .map_err(|error| format!("{}: {error}", file.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} can be read by other users (mode {:o}); run `chmod 600` on it or sign in again",
            file.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            server: "http://127.0.0.1:8080".into(),
            username: "alice".into(),
            token: "token".into(),
            expires_at: 1,
            identity: serde_json::json!({"kty": "EC"}),
        }
    }

    #[test]
    fn a_saved_session_reads_back_and_only_its_owner_can_read_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = Credentials::new(Some(dir.path().join("nexchat"))).expect("dir");
        assert!(credentials.load().expect("nothing yet").is_none());
        credentials.save(&session()).expect("save");
        let back = credentials.load().expect("load").expect("a session");
        assert_eq!(
            (back.username.as_str(), back.token.as_str()),
            ("alice", "token")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("exists").permissions().mode() & 0o777;
            assert_eq!(mode(&credentials.file()), 0o600);
            assert_eq!(mode(&dir.path().join("nexchat")), 0o700);
            fs::set_permissions(credentials.file(), fs::Permissions::from_mode(0o644))
                .expect("chmod");
            let refused = credentials.load().expect_err("a file others can read");
            assert!(refused.contains("chmod 600"), "{refused}");
        }
        credentials.clear().expect("clear");
        assert!(credentials.load().expect("gone").is_none());
    }
}
