//! From hyper's requests to the dispatcher and back: routing, the limits
//! on what a request may carry, cookies, and the response headers.
//!
//! Routes: `GET /` (start, or where you are), `GET /k/<k>` (a page),
//! `POST /k/<k>` (an answer), `GET /_push` and `GET /_poll` (push),
//! `GET /_corio/push.js`. Everything else is 404 (a browser's
//! `/favicon.ico` never touches a session), other methods 405.
//!
//! Refusals: a body over `max_body` 413 (by its `Content-Length` before
//! reading, or while reading a chunked one), a body still arriving after
//! `body_timeout` 408, a body that is not
//! `application/x-www-form-urlencoded` 415, a malformed form 400, a POST
//! from another site (`Origin` not this host, or `Sec-Fetch-Site:
//! cross-site`) 403. Heads over `max_header_bytes` are answered 431 by
//! hyper itself.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};

use crate::app::{AppInner, Decision, busy};
use crate::form;
use crate::id::Id;
use crate::page;
use crate::push::{Backlog, PushStream};
use crate::session::{HitKind, Outcome, Reply, Shared};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "corio_sid";

/// What pages may do: scripts and everything else only from this server
/// (so injected inline script would not run even if escaping failed),
/// inline style allowed, no framing by other sites.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// A response body: a whole page, or an endless push stream.
pub(crate) enum Body {
    Full(Option<Bytes>),
    Push(PushStream),
    /// A long poll's events, sent from the session's ring.
    Events(Backlog),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Push(p) => p.poll_frame(cx).map(|f| f.map(Ok)),
            Body::Events(b) => Poll::Ready(b.next_event().map(|e| Ok(Frame::data(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Push(_) | Body::Events(_) => SizeHint::default(),
        }
    }
}

/// Answers one request. Never panics on anything a request carries.
///
/// Suspends the connection's coro while the session decides (and, for a
/// long poll, while it waits for an event).
pub(crate) async fn handle<B>(app: Rc<AppInner>, req: Request<B>, peer: IpAddr) -> Response<Body>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let sid = session_cookie(req.headers());
    let path = req.uri().path();
    let page_id = path.strip_prefix("/k/");
    let known = path == "/" || page_id.is_some();
    match *req.method() {
        Method::GET if path == "/" => decision(&app, app.dispatch(sid, HitKind::Start, peer)),
        Method::GET if page_id.is_some() => match page_id.and_then(Id::parse) {
            Some(k) => decision(&app, app.dispatch(sid, HitKind::Show(k), peer)),
            None => error(404, "Not Found", "There is no such page."),
        },
        Method::POST if page_id.is_some() => {
            let Some(k) = page_id.and_then(Id::parse) else {
                return error(404, "Not Found", "There is no such page.");
            };
            if cross_site(req.headers()) {
                return error(
                    403,
                    "Forbidden",
                    "Answers must come from this site's own pages.",
                );
            }
            if !is_form(req.headers()) {
                return error(
                    415,
                    "Unsupported Media Type",
                    "Answers are sent as application/x-www-form-urlencoded.",
                );
            }
            let fields = match read_form(&app, req).await {
                Ok(f) => f,
                Err(rsp) => return rsp,
            };
            decision(&app, app.dispatch(sid, HitKind::Answer(k, fields), peer))
        }
        Method::GET if path == "/_corio/push.js" => {
            asset(page::PUSH_JS, "text/javascript; charset=utf-8", "no-cache")
        }
        Method::GET if path == "/_corio/style.css" => {
            asset(page::STYLE, "text/css; charset=utf-8", "max-age=3600")
        }
        Method::GET if path == "/_push" => push(&app, sid, &req),
        Method::GET if path == "/_poll" => poll(&app, sid, &req),
        _ if known || path == "/_push" || path == "/_poll" => {
            let mut rsp = error(
                405,
                "Method Not Allowed",
                "Pages are read with GET and answered with POST.",
            );
            let allow = if page_id.is_some() {
                "GET, POST"
            } else {
                "GET"
            };
            rsp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            rsp
        }
        _ => error(404, "Not Found", "There is no such page."),
    }
}

/// Reads and parses a form body within the app's byte limit and body
/// deadline.
async fn read_form<B>(app: &AppInner, req: Request<B>) -> Result<crate::Answer, Response<Body>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let max = app.config.max_body;
    let too_large = || {
        error(
            413,
            "Content Too Large",
            &format!("An answer may carry at most {max} bytes."),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let deadline = Instant::now().checked_add(app.config.body_timeout);
    let body = match read_body(req.into_body(), max, declared, deadline).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(too_large()),
        Err(BodyError::Late) => {
            return Err(error(
                408,
                "Request Timeout",
                "The answer did not arrive in time; please send it again.",
            ));
        }
        Err(BodyError::Cut) => {
            return Err(error(400, "Bad Request", "The request body was cut short."));
        }
    };
    form::parse(&body).map_err(|e| error(400, "Bad Request", &format!("Malformed form: {e}.")))
}

/// Why a body was not read whole.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// Over the byte limit.
    TooLarge,
    /// Still arriving at the deadline.
    Late,
    /// The transport failed.
    Cut,
}

/// Reads `body` into one buffer of at most `max` bytes, copying each frame
/// as it arrives (so no transport buffer is kept while the rest comes), and
/// gives up at `deadline`.
///
/// Suspends the connection's coro while the body arrives.
async fn read_body<B>(
    body: B,
    max: usize,
    declared: Option<u64>,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, BodyError>
where
    B: http_body::Body<Data = Bytes>,
{
    // What the head declared (already checked against `max`); bodies of
    // unknown length grow as they come.
    let cap = declared.map_or(0, |n| usize::try_from(n).unwrap_or(max).min(max));
    let mut out = Vec::with_capacity(cap);
    let mut body = std::pin::pin!(body);
    let mut late = deadline.map(|d| Box::pin(corio::compat::Sleep::until(d)));
    std::future::poll_fn(|cx| {
        loop {
            match body.as_mut().poll_frame(cx) {
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Err(BodyError::Cut)),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    if out.len().checked_add(data.len()).is_none_or(|n| n > max) {
                        return Poll::Ready(Err(BodyError::TooLarge));
                    }
                    out.extend_from_slice(&data);
                }
                Poll::Pending => {
                    if let Some(late) = late.as_mut()
                        && late.as_mut().poll(cx).is_ready()
                    {
                        return Poll::Ready(Err(BodyError::Late));
                    }
                    return Poll::Pending;
                }
            }
        }
    })
    .await?;
    Ok(out)
}

/// `GET /_push`: the session's event stream.
fn push<B>(app: &AppInner, sid: Option<Id>, req: &Request<B>) -> Response<Body> {
    let Some(shared) = sid.and_then(|id| app.live(id)) else {
        // 204 tells an EventSource to stop reconnecting.
        return empty(StatusCode::NO_CONTENT);
    };
    let cursor = cursor(req);
    let stream = PushStream::new(
        &shared.push,
        cursor,
        app.config.heartbeat,
        Rc::new(corio::compat::Timer),
    );
    typed(Body::Push(stream), "text/event-stream", "no-store")
}

/// `GET /_poll`: the events after the cursor, waiting at most one
/// heartbeat for the first.
fn poll<B>(app: &AppInner, sid: Option<Id>, req: &Request<B>) -> Response<Body> {
    let Some(shared) = sid.and_then(|id| app.live(id)) else {
        return empty(StatusCode::NO_CONTENT);
    };
    let cursor = cursor(req);
    let _place = {
        let mut push = shared.push.borrow_mut();
        if push.polls >= push.max_listeners() {
            return reply(busy(
                "This page already has as many long polls open as it may; \
                 please try again in a moment.",
                2,
            ));
        }
        push.polls += 1;
        PollPlace(&shared)
    };
    let mut waited = false;
    loop {
        if let Some(events) = Backlog::after(&shared.push, cursor) {
            return typed(Body::Events(events), "text/event-stream", "no-store");
        }
        let signal = shared.push.borrow().signal.clone();
        if shared.outcome.get() != Outcome::Running {
            return empty(StatusCode::NO_CONTENT);
        }
        if waited {
            return empty(StatusCode::OK);
        }
        signal.wait_timeout(app.config.heartbeat);
        waited = true;
    }
}

/// A long poll's place among its session's, given back on drop.
struct PollPlace<'a>(&'a Shared);

impl Drop for PollPlace<'_> {
    fn drop(&mut self) {
        if let Ok(mut push) = self.0.push.try_borrow_mut() {
            push.polls -= 1;
        }
    }
}

/// Where a push listener resumes: `Last-Event-ID` (a reconnecting
/// EventSource), else `?from=`, else 0.
fn cursor<B>(req: &Request<B>) -> u64 {
    let last_event = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let from = || {
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "from")
            .and_then(|(_, v)| v.parse().ok())
    };
    last_event.or_else(from).unwrap_or(0)
}

/// The session id in the request's cookies, if one is well formed.
fn session_cookie(headers: &HeaderMap) -> Option<Id> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| Id::parse(value.trim()))
}

/// Whether a POST comes from another site's page.
fn cross_site(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match get("origin") {
        None => false,
        Some(origin) => {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            authority.is_none() || authority != get("host")
        }
    }
}

/// Whether the body is declared a urlencoded form (or not declared at all).
fn is_form(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        None => true,
        Some(Ok(v)) => v.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }),
        Some(Err(_)) => false,
    }
}

/// The response for a dispatcher's decision.
fn decision(app: &AppInner, d: Decision) -> Response<Body> {
    let mut rsp = reply(d.reply);
    if let Some(id) = d.new_session {
        let secure = if app.config.secure_cookie {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax{secure}");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            rsp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    rsp
}

fn reply(r: Reply) -> Response<Body> {
    let mut rsp = Response::new(Body::Full(Some(r.body)));
    *rsp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = rsp.headers_mut();
    if let Some(loc) = r.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    if let Some(secs) = r.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Pages are a session's private, changing state: never cached, so the
    // back button asks the server (which then says the page is stale).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    rsp
}

/// A response of `body` with its `Content-Type` and `Cache-Control`.
fn typed(body: Body, content_type: &'static str, cache_control: &'static str) -> Response<Body> {
    let mut rsp = Response::new(body);
    let h = rsp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    rsp
}

/// One of corio-web's own files (the push script, the style sheet).
fn asset(
    text: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
) -> Response<Body> {
    let body = Body::Full(Some(Bytes::from_static(text.as_bytes())));
    let mut rsp = typed(body, content_type, cache_control);
    rsp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    rsp
}

/// An error page that corio-web answers by itself.
fn error(status: u16, title: &str, detail: &str) -> Response<Body> {
    reply(Reply::page(status, page::error(status, title, detail)))
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut rsp = Response::new(Body::Full(None));
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let id = Id::random().unwrap();
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(session_cookie(&h), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=y; {COOKIE}={id}")).unwrap(),
        );
        assert_eq!(session_cookie(&h), Some(id));
        let mut bad = HeaderMap::new();
        bad.append(header::COOKIE, HeaderValue::from_static("corio_sid=nothex"));
        assert_eq!(session_cookie(&bad), None);
    }

    #[test]
    fn tells_cross_site_posts() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!cross_site(&h));
        h.insert("origin", HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(!cross_site(&h));
        h.insert("origin", HeaderValue::from_static("http://evil.example"));
        assert!(cross_site(&h));
        h.insert("origin", HeaderValue::from_static("null"));
        assert!(cross_site(&h));
        h.remove("origin");
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
    }

    #[test]
    fn accepts_urlencoded_forms_only() {
        let mut h = HeaderMap::new();
        assert!(is_form(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        );
        assert!(is_form(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=x"),
        );
        assert!(!is_form(&h));
    }
}
