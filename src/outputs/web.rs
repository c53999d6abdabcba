//! The wallboard's files, built into the binary: no web server and no build
//! step at run time. They hold no data (that comes over the websocket, with
//! a token where tokens are configured), so they are served to anyone.

use axum::Router as Routes;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// Path, content type and content of each file. uPlot (MIT), the charting
/// library, is vendored with its licence.
const FILES: [(&str, &str, &str); 19] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../web/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/app.js"),
    ),
    (
        "/assets/i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/i18n.js"),
    ),
    (
        "/assets/format.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/format.js"),
    ),
    (
        "/assets/socket.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/socket.js"),
    ),
    (
        "/assets/views/common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/common.js"),
    ),
    (
        "/assets/views/overview.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/overview.js"),
    ),
    (
        "/assets/views/services.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/services.js"),
    ),
    (
        "/assets/views/agents.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/agents.js"),
    ),
    (
        "/assets/views/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/dashboard.js"),
    ),
    (
        "/assets/alarms.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/alarms.js"),
    ),
    (
        "/assets/views/waiting.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/waiting.js"),
    ),
    (
        "/assets/views/agent-list.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/agent-list.js"),
    ),
    (
        "/assets/views/agent-stats.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/agent-stats.js"),
    ),
    (
        "/assets/views/reports.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/views/reports.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_str!("../../web/app.css"),
    ),
    (
        "/assets/vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "/assets/vendor/uplot/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../../web/vendor/uplot/uPlot.min.css"),
    ),
    (
        "/assets/vendor/uplot/LICENSE",
        "text/plain; charset=utf-8",
        include_str!("../../web/vendor/uplot/LICENSE"),
    ),
];

/// `GET /` and `/assets/*`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Routes<S> {
    FILES
        .iter()
        .fold(Routes::new(), |routes, &(path, content_type, body)| {
            routes.route(
                path,
                get(move || async move {
                    (
                        [
                            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                        ],
                        body,
                    )
                        .into_response()
                }),
            )
        })
}
