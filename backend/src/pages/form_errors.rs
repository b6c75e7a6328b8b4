//! The errors of the spec form, each placed next to the input it belongs to: a spec field path
//! such as `manifests[2].platform` goes to the row the manifest came from; with a pasted spec,
//! every error goes under the textarea with its line, and the lines around it are listed. A
//! service's refusal of a valid form is placed the same way (`spec_form::refusal`), for the
//! new-list form and the list page's "Add a platform" alike.

/// An error of a pasted spec, with its place in the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextError {
    /// What is wrong (with the field's path in front).
    pub message: String,
    /// The line (1-based).
    pub line: Option<usize>,
    /// The column (1-based).
    pub column: Option<usize>,
}

/// The errors of a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowErrors {
    /// About the source image.
    pub image: Option<String>,
    /// About the platform.
    pub platform: Option<String>,
}

/// Every error found, by the field it belongs next to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    /// The target.
    pub target: Option<String>,
    /// The tags.
    pub tags: Option<String>,
    /// The list type.
    pub list_type: Option<String>,
    /// The sources as a whole.
    pub manifests: Option<String>,
    /// Each row.
    pub rows: Vec<RowErrors>,
    /// The pasted spec.
    pub text: Option<TextError>,
    /// Anything else.
    pub general: Option<String>,
}

impl FormErrors {
    /// No errors yet, for a form of `rows` rows.
    pub fn for_rows(rows: usize) -> Self {
        Self {
            rows: vec![RowErrors::default(); rows],
            ..Self::default()
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        *self == Self::for_rows(self.rows.len())
    }

    /// Places an error about `field` (a spec path) next to the input it came from: under the
    /// pasted spec (`uses_text`), or at the field or the row (`row_of`: each manifest's row).
    pub fn place(
        &mut self,
        uses_text: bool,
        row_of: &[usize],
        field: Option<&str>,
        message: &str,
        at: (Option<usize>, Option<usize>),
    ) {
        if uses_text {
            let message = match field {
                Some(f) => format!("{f}: {message}"),
                None => message.to_owned(),
            };
            let (line, column) = at;
            self.text = Some(TextError {
                message,
                line,
                column,
            });
            return;
        }
        let message = message.to_owned();
        let field = field.unwrap_or("");
        let slot = if field == "image" || field.starts_with("targets[") {
            &mut self.target
        } else if field == "tags" || field.starts_with("tags[") {
            &mut self.tags
        } else if field == "type" {
            &mut self.list_type
        } else if let Some((n, rest)) = manifest_index(field) {
            match (row_of.get(n), self.rows.len()) {
                (Some(&row), len) if row < len => {
                    let errors = &mut self.rows[row];
                    if rest.starts_with(".platform") {
                        &mut errors.platform
                    } else {
                        &mut errors.image
                    }
                }
                _ => &mut self.manifests,
            }
        } else if field.starts_with("manifests") {
            &mut self.manifests
        } else {
            &mut self.general
        };
        slot.get_or_insert(message);
    }
}

/// `manifests[3].platform` → `(3, ".platform")`.
fn manifest_index(field: &str) -> Option<(usize, &str)> {
    let rest = field.strip_prefix("manifests[")?;
    let (n, rest) = rest.split_once(']')?;
    Some((n.parse().ok()?, rest))
}

/// A line of a pasted spec, numbered, for the listing under the textarea.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based.
    pub number: usize,
    /// The text.
    pub text: String,
    /// Whether the error is on it.
    pub bad: bool,
}

/// The lines around `line` (three either side), numbered, the bad one marked.
pub fn listing(text: &str, line: usize) -> Vec<Line> {
    let first = line.saturating_sub(3).max(1);
    text.lines()
        .enumerate()
        .map(|(i, t)| (i + 1, t))
        .filter(|(n, _)| *n >= first && *n <= line + 3)
        .map(|(number, t)| Line {
            number,
            text: t.to_owned(),
            bad: number == line,
        })
        .collect()
}
