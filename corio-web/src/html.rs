//! HTML that is escaped by default.
//!
//! [`Html`] is markup the program vouches for. Text from anywhere else —
//! a form field, a chat line, a file name — goes in through [`html!`](crate::html!) or
//! [`Html::text`], which escape it, so a user who types `<script>` sees
//! `<script>` on the page and nothing runs.

use std::fmt::{self, Display, Write as _};

/// A piece of HTML the program vouches for.
///
/// Made by [`html!`](crate::html!) (a `format!` whose arguments are escaped unless they
/// are `Html` themselves), [`Html::text`] (escaped text) or
/// [`Html::raw`] (trusted markup, not escaped). `&str` and `String`
/// convert into `Html` *escaped*, so passing user text where a page is
/// expected can never inject markup.
///
/// # Examples
///
/// ```
/// use corio_web::{Html, html};
///
/// let name = "<b>Bob</b> & co";
/// let page = html!("<p>Hello, {}!</p>", name);
/// assert_eq!(page.as_str(), "<p>Hello, &lt;b&gt;Bob&lt;/b&gt; &amp; co!</p>");
///
/// // Html arguments are kept as they are.
/// let list = html!("<ul>{}</ul>", html!("<li>{}</li>", 1));
/// assert_eq!(list.as_str(), "<ul><li>1</li></ul>");
///
/// let from_text: Html = "a < b".into();
/// assert_eq!(from_text.as_str(), "a &lt; b");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Html(String);

impl Html {
    /// An empty piece.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_web::Html::new().as_str().is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn new() -> Html {
        Html(String::new())
    }

    /// Trusted markup, taken as it is.
    ///
    /// Only for markup the program wrote itself; text that came from a
    /// request belongs in [`Html::text`] or an [`html!`](crate::html!) argument.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = corio_web::Html::raw("<b>bold</b>");
    /// assert_eq!(b.as_str(), "<b>bold</b>");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn raw(markup: impl Into<String>) -> Html {
        Html(markup.into())
    }

    /// Text, escaped: `&`, `<`, `>`, `"` and `'` become entities.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = corio_web::Html::text(r#"<a href="x">'hi'</a>"#);
    /// assert_eq!(t.as_str(), "&lt;a href=&quot;x&quot;&gt;&#39;hi&#39;&lt;/a&gt;");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn text(text: &str) -> Html {
        let mut out = String::with_capacity(text.len());
        escape_into(&mut out, text);
        Html(out)
    }

    /// The markup.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_web::html!("{}", 5).as_str(), "5");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The markup, as a `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s: String = corio_web::Html::raw("<br>").into_string();
    /// assert_eq!(s, "<br>");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Appends another piece.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_web::{Html, html};
    /// let mut rows = Html::new();
    /// for n in 1..=2 {
    ///     rows.push(html!("<li>{}</li>", n));
    /// }
    /// assert_eq!(rows.as_str(), "<li>1</li><li>2</li>");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn push(&mut self, more: impl Into<Html>) {
        self.0.push_str(&more.into().0);
    }

    /// Whether there is no markup at all.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_web::Html::new().is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Html {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Html").field(&self.0).finish()
    }
}

impl Display for Html {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Html {
    fn from(text: &str) -> Html {
        Html::text(text)
    }
}

impl From<String> for Html {
    fn from(text: String) -> Html {
        Html::text(&text)
    }
}

impl From<&String> for Html {
    fn from(text: &String) -> Html {
        Html::text(text)
    }
}

impl From<&Html> for Html {
    fn from(html: &Html) -> Html {
        html.clone()
    }
}

/// Writes `text` to `out` with HTML's five special characters escaped.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

// How an `html!` argument goes into the markup: `Html` as it is, any other
// `Display` value escaped. The macro calls `(&Arg(&x)).html_arg()`:
// method lookup tries `ViaHtml` (implemented on `Arg<Html>` itself) before
// auto-referencing to `ViaDisplay` (implemented on `&Arg<T>`), so the
// choice is made at compile time for the argument's concrete type.

/// Glue for [`html!`](crate::html!): one argument.
#[doc(hidden)]
#[derive(Debug)]
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// Glue for [`html!`](crate::html!): markup arguments, kept as they are.
#[doc(hidden)]
pub trait ViaHtml {
    fn html_arg(&self) -> String;
}

/// Glue for [`html!`](crate::html!): text arguments, escaped.
#[doc(hidden)]
pub trait ViaDisplay {
    fn html_arg(&self) -> String;
}

impl ViaHtml for Arg<'_, Html> {
    fn html_arg(&self) -> String {
        self.0.0.clone()
    }
}

impl ViaHtml for Arg<'_, &Html> {
    fn html_arg(&self) -> String {
        self.0.0.clone()
    }
}

impl ViaHtml for Arg<'_, &&Html> {
    fn html_arg(&self) -> String {
        self.0.0.clone()
    }
}

impl<T: Display + ?Sized> ViaDisplay for &Arg<'_, T> {
    fn html_arg(&self) -> String {
        let mut plain = String::new();
        let _ = write!(plain, "{}", self.0);
        let mut out = String::with_capacity(plain.len());
        escape_into(&mut out, &plain);
        out
    }
}

/// `format!` for HTML: the format string is trusted markup, every argument
/// is escaped unless it is an [`Html`] already. Gives an [`Html`].
///
/// Only positional arguments (`{}`, `{0}`): a variable captured inline
/// (`{name}`) is a compile error, because it would not be escaped.
///
/// # Examples
///
/// ```
/// use corio_web::html;
/// let who = "<script>alert(1)</script>";
/// let said = html!("<p><b>{}</b> said {}</p>", who, html!("<i>{}</i>", "hi"));
/// assert_eq!(
///     said.as_str(),
///     "<p><b>&lt;script&gt;alert(1)&lt;/script&gt;</b> said <i>hi</i></p>"
/// );
/// ```
///
/// ```compile_fail
/// let who = "<script>";
/// corio_web::html!("<b>{who}</b>"); // inline captures would skip escaping
/// ```
#[macro_export]
macro_rules! html {
    ($fmt:literal $(,)?) => {
        $crate::Html::raw(::std::format!(::std::concat!($fmt)))
    };
    ($fmt:literal, $($arg:expr),+ $(,)?) => {
        {
            #[allow(unused_imports)]
            use $crate::html::{ViaDisplay as _, ViaHtml as _};
            $crate::Html::raw(::std::format!(
                ::std::concat!($fmt),
                $((&$crate::html::Arg(&$arg)).html_arg()),+
            ))
        }
    };
}
