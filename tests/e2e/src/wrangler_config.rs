//! A copy of `wrangler.toml` without its `[build]` table, so `wrangler dev` serves the prebuilt
//! worker instead of rebuilding it on every start.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT_CONFIG: AtomicUsize = AtomicUsize::new(0);

/// `<root>/.wrangler-e2e-<pid>-<n>.toml`, deleted on drop. It lives in the project root so the
/// relative paths in it (main, assets) keep their meaning.
#[derive(Debug)]
pub(crate) struct TestConfig {
    path: PathBuf,
}

impl TestConfig {
    pub(crate) fn write(root: &Path) -> Self {
        let source = root.join("wrangler.toml");
        let text = fs::read_to_string(&source)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", source.display()));
        let n = NEXT_CONFIG.fetch_add(1, Ordering::Relaxed);
        let path = root.join(format!(".wrangler-e2e-{}-{n}.toml", std::process::id()));
        fs::write(&path, without_build_table(&text))
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestConfig {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Drops the `[build]` table and its sub-tables (`[build.*]`): every line from the `[build]`
/// header up to the next header of another table.
pub(crate) fn without_build_table(toml: &str) -> String {
    let mut in_build = false;
    let mut kept = String::with_capacity(toml.len());
    for line in toml.split_inclusive('\n') {
        if let Some(table) = table_header(line) {
            in_build = table == "build" || table.starts_with("build.");
        }
        if !in_build {
            kept.push_str(line);
        }
    }
    kept
}

/// The table name of a header line (`[a.b]` or `[[a.b]]`, a trailing comment allowed).
fn table_header(line: &str) -> Option<String> {
    let code = line.split('#').next().unwrap_or_default().trim();
    let inner = code.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(inner);
    let name: String = inner
        .split('.')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(".");
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'));
    is_name.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_build_table_and_its_subtables() {
        let toml = "\
name = \"mlink\"
main = \"build/index.js\"

[build]
command = \"scripts/build\"
watch_dir = [
  \"src\",
]

[build.upload] # old style
format = \"modules\"

[vars]
A = \"1\"

[[durable_objects.bindings]]
name = \"X\"
";
        let expected = "\
name = \"mlink\"
main = \"build/index.js\"

[vars]
A = \"1\"

[[durable_objects.bindings]]
name = \"X\"
";
        assert_eq!(without_build_table(toml), expected);
    }

    #[test]
    fn keeps_tables_whose_name_only_starts_with_build() {
        let toml = "[builder]\nx = 1\n[build]\ny = 2\n";
        assert_eq!(without_build_table(toml), "[builder]\nx = 1\n");
    }

    #[test]
    fn keeps_a_config_without_build_unchanged() {
        let toml = "name = \"a\"\n[vars]\nB = \"[not a header]\"\n";
        assert_eq!(without_build_table(toml), toml);
    }

    #[test]
    fn writes_and_removes_the_copy() {
        let root = tempfile::tempdir().unwrap();
        fs::write(
            root.path().join("wrangler.toml"),
            "name = \"a\"\n[build]\nc = 1\n",
        )
        .unwrap();
        let config = TestConfig::write(root.path());
        let path = config.path().to_path_buf();
        assert!(path.starts_with(root.path()));
        assert_eq!(fs::read_to_string(&path).unwrap(), "name = \"a\"\n");
        drop(config);
        assert!(!path.exists());
    }
}
