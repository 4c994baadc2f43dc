//! Which OS user the server runs as.
//!
//! PostgreSQL refuses to run as root, and CI and containers often are root. So when the current
//! process is root, the harness hands its directories to the `postgres` user (created by the
//! Debian package) and starts `initdb` and `postgres` as that user through the safe
//! `CommandExt::{uid, gid}` (std also drops root's supplementary groups). Otherwise everything
//! runs as the current user.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// The OS account the server processes run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunAs {
    /// The current, unprivileged user.
    CurrentUser,
    /// The `postgres` user, because the current process is root.
    Postgres { uid: u32, gid: u32 },
}

impl RunAs {
    /// Chooses the account for this process.
    pub(crate) fn detect() -> Result<RunAs> {
        if !rustix::process::geteuid().is_root() {
            return Ok(RunAs::CurrentUser);
        }
        let passwd =
            std::fs::read_to_string("/etc/passwd").map_err(Error::io("read", "/etc/passwd"))?;
        lookup_user(&passwd, "postgres")
            .map(|(uid, gid)| RunAs::Postgres { uid, gid })
            .ok_or(Error::NoPostgresUser)
    }

    /// Makes `command` run as this account.
    pub(crate) fn apply(self, command: &mut Command) {
        if let RunAs::Postgres { uid, gid } = self {
            command.uid(uid).gid(gid);
        }
    }

    /// Gives `path` (not its contents) to this account, so the server can write there.
    pub(crate) fn give(self, path: &Path) -> Result<()> {
        match self {
            RunAs::CurrentUser => Ok(()),
            RunAs::Postgres { uid, gid } => std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(Error::io("change the owner of", path)),
        }
    }
}

/// The uid and gid of `name` in passwd(5) text.
fn lookup_user(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

#[cfg(test)]
mod tests {
    use super::lookup_user;

    #[test]
    fn the_postgres_user_is_found_among_other_passwd_lines() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      postgresql:x:7:7::/:/bin/false\n\
                      postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(lookup_user(passwd, "postgres"), Some((101, 104)));
        assert_eq!(lookup_user(passwd, "nobody"), None);
    }
}
