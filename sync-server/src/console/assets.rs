//! Front-end files, embedded in the binary: htmx and Leaflet as vendored from their npm packages
//! (`sync-server/console/vendor/`, refreshed by `cargo xtask assets`), and the console's own
//! stylesheet and script (`sync-server/console/static/`). Building the server never needs npm;
//! serving a page never needs the internet.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/vendor/htmx.min.js"),
    ),
    (
        "leaflet.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/vendor/leaflet.js"),
    ),
    (
        "leaflet.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/vendor/leaflet.css"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/static/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/static/console.js"),
    ),
];

/// Leaflet's images (`leaflet.css` names them as `images/…`).
const IMAGES: &[(&str, &str, &[u8])] = &[
    (
        "layers.png",
        "image/png",
        include_bytes!("../../console/vendor/images/layers.png"),
    ),
    (
        "layers-2x.png",
        "image/png",
        include_bytes!("../../console/vendor/images/layers-2x.png"),
    ),
    (
        "marker-icon.png",
        "image/png",
        include_bytes!("../../console/vendor/images/marker-icon.png"),
    ),
    (
        "marker-icon-2x.png",
        "image/png",
        include_bytes!("../../console/vendor/images/marker-icon-2x.png"),
    ),
    (
        "marker-shadow.png",
        "image/png",
        include_bytes!("../../console/vendor/images/marker-shadow.png"),
    ),
];

/// `GET /console/static/{file}`: an embedded file, cached by browsers for a day.
pub async fn serve(Path(file): Path<String>) -> Response {
    answer(FILES, &file)
}

/// `GET /console/static/images/{file}`: Leaflet's images.
pub async fn serve_image(Path(file): Path<String>) -> Response {
    answer(IMAGES, &file)
}

fn answer(files: &[(&str, &'static str, &'static [u8])], file: &str) -> Response {
    let Some((_, ctype, bytes)) = files.iter().find(|(n, _, _)| *n == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ctype)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        *bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_files_are_the_real_ones() {
        let find = |n: &str| FILES.iter().find(|f| f.0 == n).map(|f| f.2).unwrap();
        assert!(String::from_utf8_lossy(find("htmx.min.js")).contains("htmx"));
        assert!(find("htmx.min.js").len() > 20_000);
        assert!(String::from_utf8_lossy(find("leaflet.js")).contains("Leaflet"));
        assert!(find("console.js").len() > 100);
    }
}
