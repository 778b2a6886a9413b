//! The texts a compilation reads: package files, the manifest and the embedded stdlib.
//!
//! The compiler core never touches the file system; the CLI, the language server and
//! the tests fill a [`SourceDb`] and hand it in.

use crate::span::{FileId, LineIndex};

/// What a source text is, which decides how it is parsed and whether it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A `.mesh` file of the package being compiled.
    Package,
    /// The package's `mesh.toml`.
    Manifest,
    /// A `.mesh` module of the standard library embedded in the compiler.
    Stdlib,
    /// The cluster's MeshConfig that `mesh.toml` names (`mesh_config`), in any of the
    /// forms it comes in (MeshConfig, the `istio` ConfigMap, IstioOperator, Helm values).
    MeshConfig,
    /// Kubernetes YAML given to `meshc check` to lint: its Telemetry, WasmPlugin and
    /// EnvoyFilter documents are read into the model and checked, never emitted.
    Resources,
    /// A file outside the grammar that a package refers to (a Lua script, a golden file).
    Other,
}

#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user should read it: relative to the package root for
    /// package files, `std/<module>.mesh` for the stdlib.
    pub path: String,
    pub text: String,
    pub kind: SourceKind,
    pub line_index: LineIndex,
    /// Where the bytes stopped being UTF-8, for files added with [`SourceDb::add_bytes`];
    /// the text then holds a lossy decoding so everything before it is still checked.
    pub invalid_utf8_at: Option<u32>,
    /// For package files: the module path within the package, such as `lib.labels`
    /// for `lib/labels.mesh`, which other files import as `PACKAGE.lib.labels`.
    pub module: Option<String>,
}

/// All source texts of one compilation, addressed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceDb {
    files: Vec<SourceFile>,
}

impl SourceDb {
    pub fn new() -> SourceDb {
        SourceDb::default()
    }

    pub fn add(&mut self, path: impl Into<String>, text: impl Into<String>, kind: SourceKind) -> FileId {
        let text = text.into();
        let line_index = LineIndex::new(&text);
        self.files.push(SourceFile { path: path.into(), text, kind, line_index, invalid_utf8_at: None, module: None });
        FileId(self.files.len() as u32 - 1)
    }

    /// Adds a file read as bytes, decoding invalid UTF-8 lossily and remembering where.
    pub fn add_bytes(&mut self, path: impl Into<String>, bytes: Vec<u8>, kind: SourceKind) -> FileId {
        let (text, invalid_at) = match String::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(error) => {
                let offset = error.utf8_error().valid_up_to() as u32;
                (String::from_utf8_lossy(error.as_bytes()).into_owned(), Some(offset))
            }
        };
        let id = self.add(path, text, kind);
        self.files[id.0 as usize].invalid_utf8_at = invalid_at;
        id
    }

    /// A database holding the embedded standard library, ready for a package's files.
    pub fn with_stdlib() -> SourceDb {
        let mut db = SourceDb::new();
        for (path, text) in crate::stdlib::MODULES {
            db.add(*path, *text, SourceKind::Stdlib);
        }
        db
    }

    /// Replaces the text of a file in place, keeping its id (for editor buffers).
    pub fn set_text(&mut self, id: FileId, text: impl Into<String>) {
        let file = &mut self.files[id.0 as usize];
        file.text = text.into();
        file.line_index = LineIndex::new(&file.text);
    }

    /// Sets the module path of a package file (`lib/labels.mesh` is `lib.labels`).
    pub fn set_module(&mut self, id: FileId, module: impl Into<String>) {
        self.files[id.0 as usize].module = Some(module.into());
    }

    /// Renames every file; golden tests use it to show paths relative to the case.
    pub fn map_paths(&mut self, mut rename: impl FnMut(&str) -> String) {
        for file in &mut self.files {
            if file.kind != SourceKind::Stdlib {
                file.path = rename(&file.path);
            }
        }
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn text(&self, id: FileId) -> &str {
        &self.get(id).text
    }

    pub fn path(&self, id: FileId) -> &str {
        &self.get(id).path
    }

    pub fn find(&self, path: &str) -> Option<FileId> {
        self.files.iter().position(|f| f.path == path).map(|i| FileId(i as u32))
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
