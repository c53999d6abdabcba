//! The wallboard's files, built into the binary: no web server and no build
//! step at run time. They hold no data (that comes over the websocket, with
//! a token where tokens are configured), so they are served to anyone.

use axum::Router as Routes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");
/// uPlot (MIT), the charting library, vendored with its licence.
const UPLOT_JS: &str = include_str!("../../web/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../web/vendor/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../web/vendor/uplot/LICENSE");

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /` and `/assets/*`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Routes<S> {
    Routes::new()
        .route(
            "/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { file("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { file("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/assets/vendor/uplot/uPlot.iife.min.js",
            get(|| async { file("text/javascript; charset=utf-8", UPLOT_JS) }),
        )
        .route(
            "/assets/vendor/uplot/uPlot.min.css",
            get(|| async { file("text/css; charset=utf-8", UPLOT_CSS) }),
        )
        .route(
            "/assets/vendor/uplot/LICENSE",
            get(|| async { file("text/plain; charset=utf-8", UPLOT_LICENSE) }),
        )
}

/// True for the paths of the board's files (served without a token).
pub fn is_public(path: &str) -> bool {
    path == "/" || path.starts_with("/assets/")
}
