//! A job from files: the module (`.wasm`, or WebAssembly text compiled
//! here) and the inputs, split into units.
//!
//! Splitting: a **directory** gives one unit per regular file in it, in
//! file-name order (so `--units` must be left out or equal the count); a
//! **file** is cut into `units` byte ranges of equal length (the first
//! ones a byte longer when it does not divide evenly), which suits
//! modules that work on any slice of a data set.

use std::{fs, path::Path};

use crate::Error;

/// Reads a module: WebAssembly binary as is, anything else compiled as
/// WebAssembly text.
pub fn read_module(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = fs::read(path)
        .map_err(|e| Error::BadInput(format!("cannot read {}: {e}", path.display())))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes)
        .map(|b| b.into_owned())
        .map_err(|e| {
            Error::BadInput(format!(
                "{} is neither a WebAssembly binary nor valid WebAssembly text: {e}",
                path.display()
            ))
        })
}

/// The inputs of the units from `path` (see the module docs).
pub fn split_inputs(path: &Path, units: Option<u32>) -> Result<Vec<Vec<u8>>, Error> {
    let bad = |what: String| Error::BadInput(what);
    let meta =
        fs::metadata(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        let mut files: Vec<_> = fs::read_dir(path)
            .map_err(|e| bad(format!("cannot list {}: {e}", path.display())))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(bad(format!(
                "{} holds no files: one file per unit",
                path.display()
            )));
        }
        if let Some(n) = units.filter(|&n| n as usize != files.len()) {
            return Err(bad(format!(
                "--units {n}, but {} holds {} files (a directory gives one unit per file; leave --units out)",
                path.display(),
                files.len()
            )));
        }
        return files
            .iter()
            .map(|f| fs::read(f).map_err(|e| bad(format!("cannot read {}: {e}", f.display()))))
            .collect();
    }
    let units = units.ok_or_else(|| {
        bad(format!(
            "{} is a file: say into how many units to cut it with --units N",
            path.display()
        ))
    })?;
    let data = fs::read(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    if units == 0 || units as usize > data.len().max(1) {
        return Err(bad(format!(
            "--units {units} for a file of {} bytes: give between 1 and its size",
            data.len()
        )));
    }
    let n = units as usize;
    let (base, extra) = (data.len() / n, data.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(data[at..at + len].to_vec());
        at += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_cut_into_equal_ranges_and_a_dir_gives_one_unit_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        fs::write(&file, b"abcdefghij").unwrap();
        let parts = split_inputs(&file, Some(3)).unwrap();
        assert_eq!(
            parts,
            vec![b"abcd".to_vec(), b"efg".to_vec(), b"hij".to_vec()]
        );
        assert!(split_inputs(&file, None)
            .unwrap_err()
            .to_string()
            .contains("--units"));
        let units = dir.path().join("units");
        fs::create_dir(&units).unwrap();
        fs::write(units.join("b"), b"2").unwrap();
        fs::write(units.join("a"), b"1").unwrap();
        assert_eq!(
            split_inputs(&units, None).unwrap(),
            vec![b"1".to_vec(), b"2".to_vec()]
        );
        assert!(split_inputs(&units, Some(3)).is_err());
    }
}
