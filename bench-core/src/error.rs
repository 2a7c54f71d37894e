//! Error types of the run model.

use std::fmt;
use std::path::PathBuf;

/// Where a problem in a user-supplied specification is.
///
/// Typed, so that code which re-places an error (the suite loader pointing a
/// workload's complaint about a key at the line that set it) matches on the
/// variant instead of searching the rendered text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A position in a file; line and column are 1-based.
    File {
        /// The file as named to the user.
        path: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1, counted in bytes of the line.
        col: usize,
    },
    /// A line of a file whose format has no useful columns (fio job files).
    Line {
        /// The file as named to the user.
        path: String,
        /// Line, from 1.
        line: usize,
    },
    /// A file as a whole: unreadable, too large, or missing a part.
    Path(String),
    /// A command-line flag, stored without its leading `--`.
    Flag(String),
    /// A workload parameter. `WorkloadFactory::build` names the key without
    /// knowing where it was written; the loader that does fills in `at`.
    Key {
        /// The parameter's name.
        key: String,
        /// Where the key was written, once known.
        at: Option<Box<Location>>,
    },
    /// Anything else, printed as is (`built-in default of disk.bs`).
    Other(String),
}

impl Location {
    /// A 1-based position in a file.
    pub fn file(path: impl Into<String>, line: usize, col: usize) -> Self {
        Self::File {
            path: path.into(),
            line,
            col,
        }
    }

    /// A workload parameter not yet placed in a file.
    pub fn key(key: impl Into<String>) -> Self {
        Self::Key {
            key: key.into(),
            at: None,
        }
    }

    /// The key this location names, if it is one.
    pub fn key_name(&self) -> Option<&str> {
        match self {
            Self::Key { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Whether the location says where in some input the problem is: a file
    /// position or line, or a key that has been placed. An unplaced key, a
    /// bare flag name or free text is not.
    pub fn is_placed(&self) -> bool {
        match self {
            Self::File { .. } | Self::Line { .. } => true,
            Self::Key { at, .. } => at.is_some(),
            Self::Path(_) | Self::Flag(_) | Self::Other(_) => false,
        }
    }

    /// Reads the location strings of the string-based API (`SpecError::new`
    /// with a `&str`): `--name` is a flag, a bare parameter-like word
    /// (`bs`, `array_size`) is an unplaced key, anything else is printed
    /// as given. Kept so that callers written against the string API build
    /// unchanged; new code uses the typed constructors.
    fn from_legacy(s: String) -> Self {
        if let Some(flag) = s.strip_prefix("--").filter(|f| !f.is_empty()) {
            return Self::Flag(flag.to_string());
        }
        let mut chars = s.chars();
        let word = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if word {
            Self::key(s)
        } else {
            Self::Other(s)
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, line, col } => write!(f, "{path}:{line}:{col}"),
            Self::Line { path, line } => write!(f, "{path}:{line}"),
            Self::Path(p) | Self::Other(p) => f.write_str(p),
            Self::Flag(name) => write!(f, "--{name}"),
            Self::Key { at: Some(at), .. } => at.fmt(f),
            Self::Key { key, at: None } => f.write_str(key),
        }
    }
}

impl From<String> for Location {
    fn from(s: String) -> Self {
        Self::from_legacy(s)
    }
}

impl From<&str> for Location {
    fn from(s: &str) -> Self {
        Self::from_legacy(s.to_string())
    }
}

impl From<&String> for Location {
    fn from(s: &String) -> Self {
        Self::from_legacy(s.clone())
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Self {
        l.clone()
    }
}

impl Location {
    /// Whether the location prints as `text`, without building the string.
    pub fn prints_as(&self, text: &str) -> bool {
        struct Rest<'a>(&'a str);
        impl fmt::Write for Rest<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 = self.0.strip_prefix(s).ok_or(fmt::Error)?;
                Ok(())
            }
        }
        let mut rest = Rest(text);
        fmt::write(&mut rest, format_args!("{self}")).is_ok() && rest.0.is_empty()
    }
}

// Comparisons with text compare what the user sees, so assertions and
// callers written against the former `location: String` keep working.
impl PartialEq<str> for Location {
    fn eq(&self, other: &str) -> bool {
        self.prints_as(other)
    }
}

impl PartialEq<&str> for Location {
    fn eq(&self, other: &&str) -> bool {
        self.prints_as(other)
    }
}

impl PartialEq<String> for Location {
    fn eq(&self, other: &String) -> bool {
        self.prints_as(other)
    }
}

impl PartialEq<Location> for String {
    fn eq(&self, other: &Location) -> bool {
        other.prints_as(self)
    }
}

impl PartialEq<Location> for &str {
    fn eq(&self, other: &Location) -> bool {
        other.prints_as(self)
    }
}

/// A problem with a user-supplied specification (suite file, flags, job file).
///
/// Displayed as `location: message`, e.g.
/// `suites/quick.toml:12:1: key `bs`: must be greater than 0`.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SpecError {
    /// Where the bad input is.
    pub location: Location,
    /// What is wrong, naming the key.
    pub message: String,
}

impl SpecError {
    /// Builds a spec error at `location`.
    ///
    /// Accepts a [`Location`] or, as a thin wrapper kept for the string API,
    /// text: `--flag`, a bare key name, or anything printed as is (see
    /// [`Location`]'s `From<&str>`).
    pub fn new(location: impl Into<Location>, message: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
        }
    }

    /// An error about workload parameter `key`, for the loader to place.
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Location::key(key), message)
    }

    /// An error about command-line flag `--name` (`name` without dashes).
    pub fn flag(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Location::Flag(name.into()), message)
    }

    /// An error at a 1-based line and column of `path`.
    pub fn at(
        path: impl Into<String>,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Location::file(path, line, col), message)
    }

    /// An error at a line of `path`, no column.
    pub fn at_line(path: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        Self::new(
            Location::Line {
                path: path.into(),
                line,
            },
            message,
        )
    }

    /// An error about file `path` as a whole.
    pub fn file(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Location::Path(path.into()), message)
    }

    /// An error whose place is described in words.
    pub fn other(place: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Location::Other(place.into()), message)
    }
}

/// A value that does not fit its parameter's declaration. It says what is
/// wrong with the value; the caller adds the key and where it was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

impl ValueError {
    /// A value error described in words.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<String> for ValueError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for ValueError {
    fn from(message: &str) -> Self {
        Self(message.to_string())
    }
}

/// A failure while a workload prepares, runs or tears down.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// An operating-system call failed; `what` says which and on what.
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed, with its object (e.g. "open /tmp/x").
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure, described in words.
    #[error("{0}")]
    Other(String),
}

impl WorkloadError {
    /// Wraps an I/O error with a description of what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// Errors of the core library outside a single workload.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Bad specification.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A workload failed.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A result file that does not parse or does not match the schema.
    #[error("{path}: not a valid skubench result file: {message}")]
    BadResult {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_print_as_users_read_them() {
        assert_eq!(Location::file("a.toml", 3, 5).to_string(), "a.toml:3:5");
        let line = Location::Line {
            path: "j.fio".into(),
            line: 7,
        };
        assert_eq!(line.to_string(), "j.fio:7");
        assert_eq!(Location::Flag("iodepth".into()).to_string(), "--iodepth");
        assert_eq!(Location::key("bs").to_string(), "bs");
        let placed = Location::Key {
            key: "bs".into(),
            at: Some(Box::new(Location::file("bs0.toml", 3, 1))),
        };
        assert_eq!(placed.to_string(), "bs0.toml:3:1");
        let e = SpecError::new(placed, "key `bs`: must be greater than 0");
        assert_eq!(
            e.to_string(),
            "bs0.toml:3:1: key `bs`: must be greater than 0"
        );
    }

    #[test]
    fn text_locations_keep_their_meaning() {
        assert_eq!(Location::from("--bs"), Location::Flag("bs".into()));
        assert_eq!(Location::from("array_size"), Location::key("array_size"));
        assert_eq!(
            Location::from("built-in default of disk.bs"),
            Location::Other("built-in default of disk.bs".into())
        );
        assert_eq!(Location::from("f:3:1"), Location::Other("f:3:1".into()));
        assert_eq!(Location::from("--"), Location::Other("--".into()));
        assert_eq!(Location::from(""), Location::Other(String::new()));
        assert_eq!(Location::from("9lives"), Location::Other("9lives".into()));
        // Compared with text, a location is what it prints.
        assert_eq!(Location::from("f:3:1"), "f:3:1");
        let key = String::from("bs");
        assert!(key == Location::key("bs"));
        assert!(!Location::key("bs").prints_as("b"));
        assert!(!Location::key("bs").prints_as("bss"));
        assert!(Location::file("f", 1, 1) != "f:1:2");
    }

    #[test]
    fn placed_means_a_position_is_known() {
        assert!(Location::file("f", 1, 1).is_placed());
        assert!(!Location::key("bs").is_placed());
        assert!(!Location::Flag("bs".into()).is_placed());
        assert!(!Location::Other("f:1:1".into()).is_placed());
        assert_eq!(Location::key("bs").key_name(), Some("bs"));
        assert_eq!(Location::Flag("bs".into()).key_name(), None);
    }
}
