//! The spec form's model: the fields as typed (kept to show again), the spec they make, and each
//! error placed next to the field at fault.
//!
//! The form's fields become a JSON spec that goes through the same parser as the API's bodies, so
//! a field path such as `manifests[2].image` comes back and is placed at the row it came from; a
//! YAML (or JSON) spec pasted into the textarea wins over the fields, and its errors carry the line.
//! Pure code: no I/O. Where each error is shown is `form_errors`' business.

use serde_json::{Map, Value, json};

use actix_web::http::StatusCode;

use super::form_errors::FormErrors;
use super::security::{FormData, new_token};
use super::view::explain;
use crate::http::status_of;
use crate::model::{AskedOptions, ListType, Platform, Repair, SpecFormat};
use crate::service::{ServiceError, Services, Submit};
use crate::spec::{self, Submission};

/// Rows an empty form starts with (the documentation demo has two sources).
const EMPTY_ROWS: usize = 2;

/// Most rows the form keeps (more can be given as YAML).
const MAX_ROWS: usize = 200;

/// What the visitor pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Resolve and show the list, writing nothing.
    DryRun,
    /// Queue the push.
    Push,
    /// Another source row.
    AddRow,
    /// Remove the row at this index.
    RemoveRow(usize),
}

/// One source row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// The source image reference.
    pub image: String,
    /// `os/arch[/variant]`, or empty to read it from the image.
    pub platform: String,
}

/// The form as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecForm {
    /// The target reference.
    pub target: String,
    /// Extra tags, separated by commas or spaces.
    pub tags: String,
    /// `auto`, `docker` or `oci`.
    pub list_type: String,
    /// The sources.
    pub rows: Vec<Row>,
    /// A pasted spec; when not blank it is used instead of the fields.
    pub yaml: String,
    /// Bring each source's signatures, attestations and SBOMs into the target too (`referrers`;
    /// a pasted spec's own key wins).
    pub referrers: bool,
    /// Give the index the `org.opencontainers.image.*` annotations every image child agrees on
    /// (`inherit_annotations`; a pasted spec's own key wins).
    pub inherit_annotations: bool,
    /// Keep the list whole once it has landed (`repair: true`; a pasted spec's own key wins).
    pub repair: bool,
    /// Makes a double-pressed "Push" queue one list (the idempotency key).
    pub nonce: String,
}

/// A valid submission made from the form.
#[derive(Debug, Clone)]
pub struct Built {
    /// The spec and its options.
    pub submission: Submission,
    /// The list type.
    pub list_type: ListType,
    /// The spec as submitted (the pasted text, or the fields as JSON).
    pub text: String,
    /// The format of `text`.
    pub format: SpecFormat,
    /// For each of the spec's manifests, the form row it came from.
    pub row_of: Vec<usize>,
}

impl Built {
    /// The submission of this spec with the options the form asks for (the spec's own keys win)
    /// and its idempotency key.
    pub fn submit(&self, asked: AskedOptions, idempotency_key: Option<String>) -> Submit {
        Submit {
            submission: self.submission.clone(),
            format: self.format,
            text: self.text.clone(),
            asked,
            idempotency_key,
        }
    }
}

impl SpecForm {
    /// Builds the spec off the HTTP threads (parsing a pasted spec is CPU work); answers the form
    /// back with what it built.
    pub async fn build_off_thread(
        self,
        services: &Services,
    ) -> Result<(Self, Result<Built, Box<FormErrors>>), ServiceError> {
        services
            .blocking(move || {
                let built = self.build();
                (self, built)
            })
            .await
    }

    /// A new, empty form.
    pub fn empty() -> Self {
        Self {
            target: String::new(),
            tags: String::new(),
            list_type: "auto".to_owned(),
            rows: vec![Row::default(); EMPTY_ROWS],
            yaml: String::new(),
            referrers: false,
            inherit_annotations: false,
            repair: false,
            nonce: new_token(),
        }
    }

    /// The form as posted.
    pub fn from_form(form: &FormData) -> Self {
        let images: Vec<&str> = form.all("source").collect();
        let platforms: Vec<&str> = form.all("platform").collect();
        let rows = (0..images.len().max(platforms.len()).min(MAX_ROWS))
            .map(|i| Row {
                image: images.get(i).copied().unwrap_or("").to_owned(),
                platform: platforms.get(i).copied().unwrap_or("").to_owned(),
            })
            .collect::<Vec<_>>();
        Self {
            target: form.get("target").unwrap_or("").to_owned(),
            tags: form.get("tags").unwrap_or("").to_owned(),
            list_type: form.get("type").unwrap_or("auto").to_owned(),
            rows: if rows.is_empty() {
                vec![Row::default()]
            } else {
                rows
            },
            yaml: form.get("yaml").unwrap_or("").to_owned(),
            referrers: matches!(form.get("referrers"), Some("true" | "on")),
            inherit_annotations: matches!(form.get("inherit_annotations"), Some("true" | "on")),
            repair: matches!(form.get("repair"), Some("true" | "on")),
            nonce: form
                .get("nonce")
                .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                .map_or_else(new_token, str::to_owned),
        }
    }

    /// What was pressed (a dry run when unsure: it writes nothing).
    pub fn action(form: &FormData) -> Action {
        match form.get("action").unwrap_or("") {
            "push" => Action::Push,
            "add_row" => Action::AddRow,
            other => match other.strip_prefix("remove:").and_then(|n| n.parse().ok()) {
                Some(n) => Action::RemoveRow(n),
                None => Action::DryRun,
            },
        }
    }

    /// Applies a row action; other actions leave the form as it is.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::AddRow if self.rows.len() < MAX_ROWS => self.rows.push(Row::default()),
            Action::RemoveRow(n) if n < self.rows.len() => {
                self.rows.remove(n);
                if self.rows.is_empty() {
                    self.rows.push(Row::default());
                }
            }
            _ => {}
        }
    }

    /// Whether the pasted spec is used instead of the fields.
    pub fn uses_text(&self) -> bool {
        !self.yaml.trim().is_empty()
    }

    /// The list type chosen in the form.
    fn list_type(&self) -> Result<ListType, String> {
        match self.list_type.as_str() {
            "" | "auto" => Ok(ListType::Auto),
            "docker" => Ok(ListType::Docker),
            "oci" => Ok(ListType::Oci),
            other => Err(format!(
                "\"{other}\" is not a list type; choose auto, docker or oci"
            )),
        }
    }

    /// The spec the form describes, checked by the spec parser; or every error placed.
    pub fn build(&self) -> Result<Built, Box<FormErrors>> {
        let mut errors = FormErrors::for_rows(self.rows.len());
        let chosen = self.list_type();
        if let Err(e) = &chosen {
            errors.list_type = Some(e.clone());
        }
        if self.uses_text() {
            return match spec::parse::submission_from_text(&self.yaml) {
                Ok(mut submission) => {
                    if self.referrers {
                        submission.options.referrers.get_or_insert(true);
                    }
                    if self.inherit_annotations {
                        submission.options.inherit_annotations.get_or_insert(true);
                    }
                    if self.repair {
                        submission.options.repair.get_or_insert(Repair::Children);
                    }
                    let output = submission
                        .options
                        .list_type
                        .unwrap_or(chosen.clone().unwrap_or_default());
                    let row_of = (0..submission.spec.manifests.len()).collect();
                    let json = self.yaml.trim_start().starts_with('{');
                    match chosen {
                        Err(_) => Err(Box::new(errors)),
                        Ok(_) => Ok(Built {
                            submission,
                            list_type: output,
                            text: self.yaml.clone(),
                            format: if json {
                                SpecFormat::Json
                            } else {
                                SpecFormat::Yaml
                            },
                            row_of,
                        }),
                    }
                }
                Err(e) => {
                    errors.place(
                        self.uses_text(),
                        &[],
                        e.field.as_deref(),
                        &e.message,
                        (e.line, e.column),
                    );
                    Err(Box::new(errors))
                }
            };
        }
        let (document, row_of) = self.document(&mut errors);
        let text = serde_json::to_string_pretty(&document).expect("JSON values serialise");
        match spec::parse::submission_from_json(&text) {
            Ok(submission) if errors.is_empty() => Ok(Built {
                list_type: submission.options.list_type.unwrap_or_default(),
                submission,
                text,
                format: SpecFormat::Json,
                row_of,
            }),
            Ok(_) => Err(Box::new(errors)),
            Err(e) => {
                // Line and column are of the generated JSON: the field says where.
                errors.place(
                    self.uses_text(),
                    &row_of,
                    e.field.as_deref(),
                    &e.message,
                    (None, None),
                );
                Err(Box::new(errors))
            }
        }
    }

    /// The fields as a JSON spec; rows left blank are left out, a platform that does not parse
    /// is reported on its row (and left out).
    fn document(&self, errors: &mut FormErrors) -> (Value, Vec<usize>) {
        let mut manifests = Vec::new();
        let mut row_of = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            let (image, platform) = (row.image.trim(), row.platform.trim());
            if image.is_empty() && platform.is_empty() {
                continue;
            }
            let mut entry = Map::new();
            entry.insert("image".into(), Value::from(image));
            if !platform.is_empty() {
                match Platform::parse(platform) {
                    Ok(p) => {
                        entry.insert("platform".into(), json!(p));
                    }
                    Err(e) => errors.rows[i].platform = Some(e),
                }
            }
            manifests.push(Value::Object(entry));
            row_of.push(i);
        }
        let tags: Vec<&str> = self
            .tags
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .collect();
        let targets: Vec<&str> = self
            .target
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .collect();
        let image = match targets.as_slice() {
            [_, _, ..] => json!(targets),
            _ => json!(self.target.trim()),
        };
        let mut document = json!({
            "image": image,
            "manifests": manifests,
        });
        if !tags.is_empty() {
            document["tags"] = json!(tags);
        }
        if self.referrers {
            document["referrers"] = json!(true);
        }
        if self.inherit_annotations {
            document["inherit_annotations"] = json!(true);
        }
        if self.repair {
            document["repair"] = json!(true);
        }
        if let Ok(output) = self.list_type()
            && output != ListType::Auto
        {
            document["type"] = json!(output);
        }
        (document, row_of)
    }
}

/// Where a service's refusal of a built form goes, and the status to answer with: a registry not
/// allowed at the field naming it (403), an invalid field (a text holding a NUL character, say)
/// at that field (400), a registry's error at the row of the source it failed on, anything else
/// above the form; each with its code and advice. (An internal failure is the
/// caller's to turn into a 500.)
pub fn refusal(form: &SpecForm, built: &Built, e: &ServiceError) -> (FormErrors, StatusCode) {
    let mut errors = FormErrors::for_rows(form.rows.len());
    if let ServiceError::NotAllowed { field, message, .. } = e {
        errors.place(
            form.uses_text(),
            &built.row_of,
            Some(field),
            message,
            (None, None),
        );
        return (errors, StatusCode::FORBIDDEN);
    }
    if let ServiceError::Invalid {
        field: Some(field),
        message,
        ..
    } = e
    {
        let at = e.position();
        errors.place(form.uses_text(), &built.row_of, Some(field), message, at);
        return (errors, StatusCode::BAD_REQUEST);
    }
    let code = e.code().to_string();
    let message = e.message();
    let text = match explain(&code) {
        Some(hint) => format!("{code}: {message}. {hint}"),
        None => format!("{code}: {message}"),
    };
    let row = e.reference().and_then(|reference| {
        built
            .submission
            .spec
            .manifests
            .iter()
            .position(|m| m.image.to_string() == reference)
            .and_then(|i| built.row_of.get(i).copied())
    });
    match row {
        Some(r) if !form.uses_text() => errors.rows[r].image = Some(text),
        _ => errors.general = Some(text),
    }
    (errors, status_of(e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::form_errors::{RowErrors, listing};

    fn form(rows: &[(&str, &str)]) -> SpecForm {
        SpecForm {
            target: "127.0.0.1:5000/demo:v1".into(),
            tags: "latest, v1.0".into(),
            list_type: "auto".into(),
            rows: rows
                .iter()
                .map(|(i, p)| Row {
                    image: (*i).into(),
                    platform: (*p).into(),
                })
                .collect(),
            yaml: String::new(),
            referrers: false,
            inherit_annotations: false,
            repair: false,
            nonce: new_token(),
        }
    }

    #[test]
    fn the_fields_make_a_spec_and_blank_rows_are_left_out() {
        let f = form(&[
            ("127.0.0.1:5000/a:v1", "linux/s390x"),
            ("", ""),
            ("127.0.0.1:5000/b:v1", ""),
        ]);

        let built = f.build().unwrap();

        let spec = &built.submission.spec;
        assert_eq!(spec.tags, ["latest", "v1.0"]);
        assert_eq!(spec.manifests.len(), 2);
        assert_eq!(built.row_of, [0, 2]);
        assert!(spec.manifests[1].platform.is_none());
        assert_eq!(built.format, "json");
    }

    #[test]
    fn an_error_is_placed_at_the_row_it_came_from() {
        let f = form(&[
            ("", ""),
            ("127.0.0.1:5000/a:v1", "linux/amd64"),
            ("127.0.0.1:5000/Bad:v1", ""),
            ("127.0.0.1:5000/c:v1", "linux"),
        ]);

        let errors = f.build().unwrap_err();

        assert!(errors.rows[2].image.is_some(), "{errors:?}");
        assert!(errors.rows[3].platform.is_some(), "{errors:?}");
        assert!(errors.rows[1] == RowErrors::default());
        assert!(errors.target.is_none() && errors.general.is_none());
    }

    #[test]
    fn a_bad_target_is_placed_at_the_target() {
        let mut f = form(&[("127.0.0.1:5000/a:v1", "")]);
        f.target = "127.0.0.1:9/<script>".into();

        let errors = f.build().unwrap_err();

        assert!(errors.target.is_some(), "{errors:?}");
    }

    #[test]
    fn several_targets_in_the_target_field_are_one_publish_and_their_errors_are_placed_there() {
        let mut f = form(&[("127.0.0.1:5000/a:v1", "")]);
        f.target = "127.0.0.1:5000/demo:v1, 127.0.0.1:5001/demo:v1".into();

        let built = f.build().unwrap();

        assert_eq!(
            built.submission.spec.targets().len(),
            2,
            "{:?}",
            built.submission.spec
        );
        f.target = "127.0.0.1:5000/demo:v1 127.0.0.1:5000/demo:v2".into();
        let errors = f.build().unwrap_err();
        let placed = errors.target.as_deref().unwrap_or_default();
        assert!(placed.contains("repository of image[0]"), "{errors:?}");
    }

    #[test]
    fn a_pasted_spec_wins_and_its_errors_carry_the_line() {
        let mut f = form(&[]);
        f.yaml = "image: 127.0.0.1:5000/demo:v1\nmanifests:\n  - image: 127.0.0.1:5000/a:v1\n    platfrom: {}\n".into();

        let errors = f.build().unwrap_err();

        let text = errors.text.unwrap();
        assert_eq!(text.line, Some(4));
        assert!(
            text.message.starts_with("manifests[0].platfrom"),
            "{}",
            text.message
        );
        let lines = listing(&f.yaml, 4);
        assert_eq!(lines.first().unwrap().number, 1);
        assert!(lines.iter().any(|l| l.bad && l.number == 4));
    }

    #[test]
    fn the_repair_box_puts_the_key_in_the_spec_and_a_pasted_spec_s_own_key_wins() {
        let mut f = form(&[("127.0.0.1:5000/a:v1", "")]);
        assert_eq!(f.build().unwrap().submission.options.repair, None);

        f.repair = true;
        let built = f.build().unwrap();
        assert_eq!(built.submission.options.repair, Some(Repair::Children));
        assert!(built.text.contains("\"repair\": true"), "{}", built.text);
        f.yaml = "image: 127.0.0.1:5000/demo:v1\nrepair: tag\nmanifests:\n  \
                  - image: 127.0.0.1:5000/a:v1\n"
            .to_owned();
        assert_eq!(
            f.build().unwrap().submission.options.repair,
            Some(Repair::Tag)
        );
    }

    #[test]
    fn the_referrers_box_puts_the_key_in_the_spec_and_a_pasted_spec_s_own_key_wins() {
        let mut f = form(&[("127.0.0.1:5000/a:v1", "")]);
        assert_eq!(f.build().unwrap().submission.options.referrers, None);

        f.referrers = true;
        let built = f.build().unwrap();
        assert_eq!(built.submission.options.referrers, Some(true));
        assert!(built.text.contains("\"referrers\": true"), "{}", built.text);

        f.yaml =
            "image: 127.0.0.1:5000/demo:v1\nmanifests:\n  - image: 127.0.0.1:5000/a:v1\n".into();
        assert_eq!(f.build().unwrap().submission.options.referrers, Some(true));
        f.yaml.push_str("referrers: false\n");
        assert_eq!(f.build().unwrap().submission.options.referrers, Some(false));
        let posted = FormData::parse(b"target=x&referrers=true");
        assert!(SpecForm::from_form(&posted).referrers);
        assert!(!SpecForm::from_form(&FormData::parse(b"target=x")).referrers);
    }

    #[test]
    fn the_inherit_box_puts_the_key_in_the_spec_and_a_pasted_spec_s_own_key_wins() {
        let mut f = form(&[("127.0.0.1:5000/a:v1", "")]);
        assert_eq!(
            f.build().unwrap().submission.options.inherit_annotations,
            None
        );

        f.inherit_annotations = true;
        let built = f.build().unwrap();
        assert_eq!(built.submission.options.inherit_annotations, Some(true));
        assert!(
            built.text.contains("\"inherit_annotations\": true"),
            "{}",
            built.text
        );

        f.yaml = "image: 127.0.0.1:5000/demo:v1\ninherit_annotations: false\nmanifests:\n  \
                  - image: 127.0.0.1:5000/a:v1\n"
            .into();
        assert_eq!(
            f.build().unwrap().submission.options.inherit_annotations,
            Some(false)
        );
        let posted = FormData::parse(b"target=x&inherit_annotations=true&repair=true");
        assert!(SpecForm::from_form(&posted).repair);
        assert!(SpecForm::from_form(&posted).inherit_annotations);
    }

    #[test]
    fn rows_are_added_and_removed_but_one_always_stays() {
        let mut f = form(&[("a", "")]);

        f.apply(Action::AddRow);
        assert_eq!(f.rows.len(), 2);
        f.apply(Action::RemoveRow(0));
        f.apply(Action::RemoveRow(0));
        assert_eq!(f.rows.len(), 1);
        f.apply(Action::RemoveRow(7));
        assert_eq!(f.rows.len(), 1);
    }

    #[test]
    fn the_action_defaults_to_a_dry_run() {
        assert_eq!(SpecForm::action(&FormData::parse(b"")), Action::DryRun);
        assert_eq!(
            SpecForm::action(&FormData::parse(b"action=remove%3A3")),
            Action::RemoveRow(3)
        );
        assert_eq!(
            SpecForm::action(&FormData::parse(b"action=push")),
            Action::Push
        );
    }
}
