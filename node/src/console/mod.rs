//! The operator's web console at `/ui`: static HTML, CSS and JavaScript built into the
//! binary, a login form that turns the API token into a cookie, and nothing else. The
//! pages read the API (`/v1/...`) and its event stream with that cookie; see
//! `daemon::http::auth` for where the cookie is accepted (GET requests to the API only).
//!
//! Nothing here is behind the token: the files hold no data, and the login route is
//! where the token is checked. Nothing is loaded from elsewhere either, and the
//! Content-Security-Policy says so to the browser.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::{ErrorBody, ErrorDetail};

/// The cookie that carries the API token.
pub const COOKIE: &str = "swarmvote_token";

/// The console's routes, as (method, path). They are not part of the OpenAPI document,
/// which describes the JSON API under `/v1` (and `/metrics`); the router test checks that
/// these are served and that none of them is documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/ui"),
    ("GET", "/ui/{asset}"),
    ("POST", "/ui/login"),
    ("POST", "/ui/logout"),
];

/// Everything the browser may load comes from this origin; no inline script, no frames.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// Longest login form body: `token=` and a token of a few hundred bytes at most.
const MAX_LOGIN_BODY: usize = 4 * 1024;

/// The console's router; `token` is the API token the login form must match.
pub fn router(token: String) -> Router {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{asset}", get(asset))
        .route(
            "/ui/login",
            post(move |body: axum::body::Bytes| login(token.clone(), body)),
        )
        .route("/ui/logout", post(logout))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_LOGIN_BODY))
}

/// A static file with the console's security headers.
fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(h);
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => file("text/javascript; charset=utf-8", APP_JS),
        "style.css" => file("text/css; charset=utf-8", STYLE),
        "index.html" => file("text/html; charset=utf-8", INDEX),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("the console has no file {name:?}"),
        ),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut r = (
        status,
        axum::Json(ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.to_owned(),
            },
        }),
    )
        .into_response();
    secure(r.headers_mut());
    r
}

/// The cookie's attributes. HttpOnly: scripts cannot read the token. SameSite=Strict:
/// other sites cannot make the browser send it. No `Secure`: the API listens on plain
/// http (normally on localhost), where a Secure cookie would never be sent back.
fn cookie(value: &str, max_age: Option<u32>) -> String {
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{age}")
}

/// `POST /ui/login` with the form `token=...`: 204 and the cookie if it is the node's
/// token, 401 without a cookie otherwise.
async fn login(token: String, body: axum::body::Bytes) -> Response {
    let given = form_field(&body, "token");
    let Some(given) = given.filter(|t| !t.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the form needs a token (it is in <data_dir>/api.cookie)",
        );
    };
    let given = given.trim();
    // The cookie value cannot carry `;`, `,`, spaces or controls; no real token does.
    let cookie_safe = given
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'"' && b != b'\\');
    if !cookie_safe || !crate::daemon::http::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "wrong token");
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    secure(r.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&cookie(given, None)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /ui/logout`: forgets the cookie (harmless to anyone, so no token needed).
async fn logout() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    secure(r.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&cookie("", Some(0))) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k)? == name)
            .then(|| percent_decode(v))
            .flatten()
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// The token in the request's `swarmvote_token` cookie, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == COOKIE && !v.is_empty()).then_some(v)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_form_and_the_cookie() {
        assert_eq!(
            form_field(b"a=1&token=ab%2Bc+d", "token").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_field(b"token=%zz", "token"), None);
        assert_eq!(form_field(b"other=1", "token"), None);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; swarmvote_token=abc; y=2"),
        );
        assert_eq!(cookie_token(&h), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("swarmvote_token="));
        assert_eq!(cookie_token(&h), None);
    }
}
