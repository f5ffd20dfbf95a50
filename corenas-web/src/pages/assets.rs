//! The stylesheet and the live-update script, compiled into the binary (no Node toolchain, no
//! files to install beside it).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

pub async fn css() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "max-age=3600")], include_str!("../../static/app.css"))
        .into_response()
}

pub async fn js() -> Response {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "max-age=3600")],
        include_str!("../../static/live.js"),
    )
        .into_response()
}
