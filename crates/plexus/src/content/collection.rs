//! Collections: a folder as one blob listing `(path, hash, size, mode)`.

use std::{
    collections::HashSet,
    path::{Component, Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::Hash;

/// Largest collection blob accepted, so a hostile listing cannot exhaust memory.
pub const MAX_COLLECTION_BYTES: u64 = 16 * 1024 * 1024;

/// One file of a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionEntry {
    /// Relative path with `/` separators, e.g. `docs/readme.txt`.
    pub path: String,
    /// The file's blob.
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
}

/// A folder: its hash names the whole tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    /// Format marker, so other blobs are not mistaken for collections.
    pub plexus_collection: u32,
    /// Files, sorted by path.
    pub entries: Vec<CollectionEntry>,
}

impl Collection {
    /// A collection of `entries` (sorted here so the hash is canonical).
    pub fn new(mut entries: Vec<CollectionEntry>) -> Self {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Self {
            plexus_collection: 1,
            entries,
        }
    }

    /// The blob bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializable")
    }

    /// Parses and validates a collection blob: every path must stay inside
    /// the target folder.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let c: Collection =
            serde_json::from_slice(bytes).map_err(|e| format!("not a Plexus collection: {e}"))?;
        if c.plexus_collection != 1 {
            return Err(format!(
                "unknown collection version {}",
                c.plexus_collection
            ));
        }
        // Sizes come from whoever wrote the collection: their sum must fit.
        c.entries
            .iter()
            .try_fold(0u64, |sum, e| sum.checked_add(e.size))
            .ok_or("the collection's file sizes add up to more than 2^64 bytes")?;
        let mut seen = HashSet::new();
        for entry in &c.entries {
            let rel = safe_relative_path(&entry.path)?;
            if !seen.insert(rel) {
                return Err(format!("collection lists {:?} twice", entry.path));
            }
        }
        Ok(c)
    }

    /// Total bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// Checks that `path` is relative, has no `..`, `.`, empty or root parts,
/// no backslashes and no control characters, and returns it as a `PathBuf`.
pub(crate) fn safe_relative_path(path: &str) -> Result<PathBuf, String> {
    let bad = || format!("unsafe path in collection: {path:?}");
    if path.is_empty()
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path.starts_with('/')
    {
        return Err(bad());
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad());
        }
        out.push(part);
    }
    if out.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(out)
    } else {
        Err(bad())
    }
}

/// Whether a name that came from someone else (a ticket, a search hit) may
/// name a file or folder in the current directory without the user picking
/// it: one plain part, not hidden (`.ssh`, `.bashrc`), no control characters.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.starts_with('.') && !name.contains('/') && safe_relative_path(name).is_ok()
}

/// Every regular file under `root`, as (relative path with `/`, full path),
/// sorted. Symlinks are skipped.
pub(crate) fn walk_files(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(root).expect("under root");
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((parts.join("/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file's permission bits for its collection entry (0o644 if unknown).
#[cfg(unix)]
pub(crate) fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644)
}

/// A file's permission bits for its collection entry (0o644 if unknown).
#[cfg(not(unix))]
pub(crate) fn file_mode(_: &Path) -> u32 {
    0o644
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_others_cannot_pick_a_dangerous_path() {
        for ok in ["photos", "Blue Moon.mp3", "a.b"] {
            assert!(is_safe_file_name(ok), "{ok}");
        }
        for bad in [
            ".ssh",
            ".bashrc",
            "..",
            ".",
            "a/b",
            "/etc",
            "x\u{1b}[2J",
            "tab\there",
            "",
        ] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
        assert!(safe_relative_path("dir/ok\nname").is_err());
    }

    #[test]
    fn sizes_that_overflow_are_refused() {
        let entry = |path: &str| CollectionEntry {
            path: path.into(),
            hash: Hash([0; 32]),
            size: u64::MAX / 2 + 1,
            mode: 0o644,
        };
        let bytes = Collection::new(vec![entry("a"), entry("b")]).to_bytes();
        let err = Collection::from_bytes(&bytes).unwrap_err();
        assert!(err.contains("2^64"), "{err}");
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "./a",
            "",
            "a\\..\\b",
            "a/..",
        ] {
            assert!(safe_relative_path(p).is_err(), "{p}");
        }
        assert_eq!(
            safe_relative_path("a/b.txt").unwrap(),
            PathBuf::from("a/b.txt")
        );
    }

    #[test]
    fn malicious_collection_is_rejected() {
        let entry = |path: &str| CollectionEntry {
            path: path.into(),
            hash: Hash::of(b""),
            size: 0,
            mode: 0o644,
        };
        let evil = Collection::new(vec![entry("ok.txt"), entry("../escape.txt")]);
        let err = Collection::from_bytes(&evil.to_bytes()).unwrap_err();
        assert!(err.contains("unsafe path"), "{err}");
        let dup = Collection::new(vec![entry("a"), entry("a")]);
        assert!(Collection::from_bytes(&dup.to_bytes()).is_err());
        assert!(Collection::from_bytes(b"{\"x\":1}").is_err());
    }
}
