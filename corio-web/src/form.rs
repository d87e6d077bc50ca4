//! The fields of an answer, and the strict form parser behind them.

use std::fmt;
use std::str::FromStr;

/// Most fields one form may carry; more is a malformed form (400).
pub(crate) const MAX_FIELDS: usize = 256;

/// What the user sent back: the fields of the form they submitted, in the
/// order the browser sent them.
///
/// # Examples
///
/// ```
/// use corio_web::Answer;
///
/// let a = Answer::from_pairs([("guess", "42"), ("tag", "a"), ("tag", "b")]);
/// assert_eq!(a.get("guess"), Some("42"));
/// assert_eq!(a.parse::<u32>("guess"), Ok(42));
/// assert_eq!(a.all("tag").collect::<Vec<_>>(), ["a", "b"]);
/// assert!(a.parse::<u32>("missing").is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    fields: Vec<(String, String)>,
}

impl Answer {
    /// An answer with these fields (for tests and for dialogues that call
    /// each other).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = corio_web::Answer::from_pairs([("go", "n")]);
    /// assert_eq!(a.get("go"), Some("n"));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Answer {
        Answer {
            fields: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The first value of field `name`, if the form had it.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = corio_web::Answer::from_pairs([("nick", "ann")]);
    /// assert_eq!(a.get("nick"), Some("ann"));
    /// assert_eq!(a.get("line"), None);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of field `name`, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = corio_web::Answer::from_pairs([("x", "1"), ("y", "2"), ("x", "3")]);
    /// assert_eq!(a.all("x").collect::<Vec<_>>(), ["1", "3"]);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Field `name`, trimmed and parsed as a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_web::Answer;
    /// let a = Answer::from_pairs([("n", " 7 "), ("w", "seven")]);
    /// assert_eq!(a.parse::<u8>("n"), Ok(7));
    /// let err = a.parse::<u8>("w").unwrap_err();
    /// assert_eq!(err.to_string(), "w: \"seven\" is not valid (invalid digit found in string)");
    /// ```
    ///
    /// # Errors
    ///
    /// [`FieldError::Missing`] when the form had no such field or it was
    /// blank; [`FieldError::Invalid`] when it does not parse.
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, FieldError>
    where
        T::Err: fmt::Display,
    {
        let raw = self.get(name).map(str::trim).unwrap_or("");
        if raw.is_empty() {
            return Err(FieldError::Missing(name.to_owned()));
        }
        raw.parse().map_err(|e: T::Err| FieldError::Invalid {
            field: name.to_owned(),
            value: raw.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Every field, in the order sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = corio_web::Answer::from_pairs([("a", "1")]);
    /// assert_eq!(a.fields().collect::<Vec<_>>(), [("a", "1")]);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the form carried no fields at all.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_web::Answer::default().is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A field of an [`Answer`] that is not what the dialogue asked for.
///
/// Its `Display` is a sentence fit to show the user (escaped, as all
/// text is, when it goes through [`html!`](crate::html!)(crate::html!)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The form had no such field, or left it blank.
    Missing(String),
    /// The field did not parse.
    Invalid {
        /// The field's name.
        field: String,
        /// What the user sent (trimmed).
        value: String,
        /// Why it did not parse.
        reason: String,
    },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Missing(field) => write!(f, "{field}: please fill this in"),
            FieldError::Invalid {
                field,
                value,
                reason,
            } => write!(f, "{field}: {value:?} is not valid ({reason})"),
        }
    }
}

impl std::error::Error for FieldError {}

/// Why a request body is not a form (answered 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FormError {
    /// A byte outside printable ASCII.
    BadByte(u8),
    /// `%` not followed by two hex digits.
    BadEscape,
    /// The decoded text is not UTF-8.
    NotUtf8,
    /// More than [`MAX_FIELDS`] fields.
    TooManyFields,
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::BadByte(b) => write!(f, "byte 0x{b:02x} is not allowed in a form body"),
            FormError::BadEscape => f.write_str("a % is not followed by two hex digits"),
            FormError::NotUtf8 => f.write_str("the form's text is not UTF-8"),
            FormError::TooManyFields => write!(f, "more than {MAX_FIELDS} fields"),
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body, refusing what a
/// browser never sends instead of guessing (form_urlencoded on its own
/// is lenient: it passes bad escapes through and replaces bad UTF-8).
pub(crate) fn parse(body: &[u8]) -> Result<Answer, FormError> {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'%' => {
                let hex = |j: usize| body.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return Err(FormError::BadEscape);
                }
                i += 3;
            }
            0x21..=0x7e => i += 1,
            b => return Err(FormError::BadByte(b)),
        }
    }
    // `&`, `=` and `+` are ASCII, so the whole body decodes to UTF-8 exactly
    // when every name and value does.
    if percent_encoding::percent_decode(body)
        .decode_utf8()
        .is_err()
    {
        return Err(FormError::NotUtf8);
    }
    let mut fields = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if fields.len() == MAX_FIELDS {
            return Err(FormError::TooManyFields);
        }
        fields.push((k.into_owned(), v.into_owned()));
    }
    Ok(Answer { fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_browsers_send() {
        let a = parse(b"guess=42&line=caf%C3%A9+au+lait&empty=&flag").unwrap();
        assert_eq!(a.get("guess"), Some("42"));
        assert_eq!(a.get("line"), Some("café au lait"));
        assert_eq!(a.get("empty"), Some(""));
        assert_eq!(a.get("flag"), Some(""));
        assert!(parse(b"").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_browsers_never_send() {
        assert_eq!(parse(b"a=%zz"), Err(FormError::BadEscape));
        assert_eq!(parse(b"a=%4"), Err(FormError::BadEscape));
        assert_eq!(parse(b"a=b c"), Err(FormError::BadByte(b' ')));
        assert_eq!(parse("a=é".as_bytes()), Err(FormError::BadByte(0xc3)));
        assert_eq!(parse(b"a=%ff%fe"), Err(FormError::NotUtf8));
        assert_eq!(parse(b"a=\n"), Err(FormError::BadByte(b'\n')));
        let many = vec!["x=1"; MAX_FIELDS + 1].join("&");
        assert_eq!(parse(many.as_bytes()), Err(FormError::TooManyFields));
        let enough = vec!["x=1"; MAX_FIELDS].join("&");
        assert_eq!(
            parse(enough.as_bytes()).unwrap().all("x").count(),
            MAX_FIELDS
        );
    }
}
