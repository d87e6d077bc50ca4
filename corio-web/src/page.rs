//! The page around a dialogue's content, and the pages corio-web answers
//! by itself (stale page, errors).

use bytes::Bytes;

use crate::html;
use crate::html::Html;
use crate::id::Id;

/// The style every page gets: plain and readable. Served once as
/// `/_corio/style.css` (cached by the browser), not repeated in every page
/// a session keeps.
pub(crate) const STYLE: &str = "body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f6f5f2;color:#222}\
main{max-width:46rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;\
box-shadow:0 1px 4px #0002}h1{font-size:1.5rem;margin-top:0}\
input,button{font:inherit;padding:.3rem .6rem}button{cursor:pointer}\
.notice{background:#fff3cd;border:1px solid #e0c060;padding:.5rem .8rem;border-radius:4px}\
.error{color:#a00}.hint{font-weight:600}";

/// A whole page: `title`, an optional notice banner, the content, and the
/// push script when the session pushes (`push_from`: the cursor).
pub(crate) fn render(
    title: &str,
    notice: Option<&Html>,
    content: &Html,
    push_from: Option<u64>,
) -> Bytes {
    let notice = match notice {
        Some(n) => html!("<p class=notice role=status>{}</p>", n),
        None => Html::new(),
    };
    let script = match push_from {
        Some(n) => html!(
            "<script src=\"/_corio/push.js\" data-from=\"{}\" defer></script>",
            n
        ),
        None => Html::new(),
    };
    let page = html!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\
<meta name=viewport content=\"width=device-width,initial-scale=1\">\
<title>{}</title><link rel=stylesheet href=\"/_corio/style.css\">{}</head><body><main>{}{}</main></body></html>\n",
        title,
        script,
        notice,
        content
    );
    Bytes::from(page.into_string())
}

/// What a request for a page that is not the current page of a live
/// session gets (409): for an answer (`answer`) or for the page itself;
/// `ours` when the page is an earlier one of this session (else it is
/// another session's: one that ended or expired, or another browser's).
pub(crate) fn stale(title: &str, current: Id, answer: bool, ours: bool) -> Bytes {
    let what = match (ours, answer) {
        (true, true) => {
            "That page was answered already, so this answer was not used: nothing has changed."
        }
        (true, false) => {
            "It belongs to an earlier step of this dialogue (the back button, or an old tab). \
             Going back cannot undo an answer: nothing has changed."
        }
        (false, true) => {
            "That page is not one of this session's: it belongs to a session that has ended \
             or expired (an old tab), or to another browser's (a copied link), so this answer \
             was not used: nothing has changed."
        }
        (false, false) => {
            "That page is not one of this session's: it belongs to a session that has ended \
             or expired (an old tab), or to another browser's (a copied link)."
        }
    };
    let heading = if ours {
        "This page is out of date"
    } else {
        "This page is not part of your session"
    };
    let body = html!(
        "<h1>{}</h1><p id=stale>{}</p>\
<p><a id=current href=\"/k/{}\">Go to where you are now</a></p>",
        heading,
        what,
        current.to_string()
    );
    render(title, None, &body, None)
}

/// The banner of a new session that replaced an expired or unknown one.
pub(crate) fn expired_notice() -> Html {
    html!("Your session has expired (or this browser had none here), so a new one has started.")
}

/// The final page of a dialogue that showed nothing.
pub(crate) fn the_end() -> Html {
    html!("<p>This dialogue has ended. <a href=\"/\">Start again</a></p>")
}

/// A page for an error status (4xx/5xx) that corio-web answers itself.
pub(crate) fn error(status: u16, title: &str, detail: &str) -> Bytes {
    let body = html!(
        "<h1>{} {}</h1><p>{}</p><p><a href=\"/\">Start again</a></p>",
        status,
        title,
        detail
    );
    render(title, None, &body, None)
}

/// The script a page that receives pushes loads: listens on an event
/// stream (or long-polls) and applies each update to the page.
pub(crate) const PUSH_JS: &str = r#""use strict";
(() => {
  const me = document.currentScript;
  let cursor = Number(me.dataset.from || 0);
  const apply = (type, data) => {
    if (type === "reload") { location.reload(); return; }
    const nl = data.indexOf("\n");
    const id = nl < 0 ? data : data.slice(0, nl);
    const html = nl < 0 ? "" : data.slice(nl + 1);
    const target = document.getElementById(id);
    if (!target) return;
    if (type === "replace") { target.innerHTML = html; return; }
    const t = document.createElement("template");
    t.innerHTML = html;
    for (const n of Array.from(t.content.childNodes)) {
      if (n.id && document.getElementById(n.id)) continue; // already shown
      target.append(n);
    }
    document.dispatchEvent(new CustomEvent("corio:push", { detail: { id } }));
  };
  const stream = () => {
    const es = new EventSource("/_push?from=" + cursor);
    for (const type of ["append", "replace", "reload"]) {
      es.addEventListener(type, (e) => {
        cursor = Number(e.lastEventId) || cursor;
        apply(type, e.data);
      });
    }
    // The browser reconnects by itself (with Last-Event-ID); a stream the
    // server ended with 204 (the session is over) stays closed.
  };
  // The long poll answers with the same event-stream text.
  const poll = async () => {
    for (;;) {
      let text;
      try {
        const r = await fetch("/_poll?from=" + cursor, { credentials: "same-origin" });
        if (r.status === 204) return; // the session has ended
        text = await r.text();
      } catch (e) { await new Promise((ok) => setTimeout(ok, 2000)); continue; }
      for (const block of text.split("\n\n")) {
        let type = "message", id = "", data = [];
        for (const line of block.split("\n")) {
          const c = line.indexOf(":");
          if (c <= 0) continue;
          const k = line.slice(0, c), v = line.slice(c + 2);
          if (k === "id") id = v; else if (k === "event") type = v; else if (k === "data") data.push(v);
        }
        if (!id) continue;
        cursor = Number(id);
        apply(type, data.join("\n"));
      }
    }
  };
  const wantPoll = me.dataset.transport === "poll" || /[?&]transport=poll/.test(location.search)
    || sessionStorage.getItem("corio-transport") === "poll" || !window.EventSource;
  if (wantPoll) poll(); else stream();
})();
"#;
