//! The live view (being built).
use std::sync::Arc;

use crate::app::App;

pub(crate) fn available() -> bool {
    false
}

pub(crate) async fn run(app: Arc<App>) {
    crate::plain::run(app).await;
}
