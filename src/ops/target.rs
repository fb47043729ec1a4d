//! What a deploy or rollback moves a service to: an image reference (pulled first when allowed),
//! the last image that passed a gate, or an exact image id; resolved to a reference and an id.

use super::{Ctx, Progress};
use crate::domain::{OpError, short_image_id};
use crate::store::Store;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Deploy,
    Rollback,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Deploy => "deploy",
            Kind::Rollback => "rollback",
        }
    }
}

/// The image a deploy moves a service to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum To {
    /// An image reference, pulled first when `[engine] pull` allows.
    Image(String),
    /// The last image that passed a gate, other than the running one.
    LastGood,
    /// Exactly this image, already on the host (a release undone): a reference it ran under and
    /// its id.
    Exact { reference: String, id: String },
}

/// How long a pull may take before the local image is used.
const PULL_LIMIT: Duration = Duration::from_secs(30);

/// The image a deploy moves to, by reference and id (a tag may move; the id is what passed or will
/// pass the gate). Pulls when allowed.
pub(super) async fn target_image(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    to: &To,
    running_id: &str,
    p: &mut Progress,
) -> Result<(String, String), OpError> {
    match to {
        To::LastGood => store.last_good(key, Some(running_id)).map_err(OpError::Failed)?.ok_or_else(|| {
            OpError::Failed(format!("no earlier image of {key} passed a health gate: nothing to roll back to"))
        }),
        To::Exact { reference, id } => match ctx.backend.image_id(id).await? {
            Some(_) => Ok((reference.clone(), id.clone())),
            None => Err(OpError::Failed(format!(
                "the image {reference} ({}) is no longer on this host",
                short_image_id(id)
            ))),
        },
        To::Image(reference) => {
            let local = ctx.backend.image_id(reference).await?;
            if !ctx.stack.pull() {
                if local.is_none() {
                    return Err(OpError::Usage(format!(
                        "image {reference} is not on this host (and [engine] pull = false)"
                    )));
                }
                p.step(None, format!("not pulling ([engine] pull = false): using the local image {reference}"));
            } else {
                match ctx.backend.pull(reference, PULL_LIMIT).await {
                    Ok(()) => p.step(None, format!("pulled {reference}")),
                    Err(e) => {
                        if local.is_none() {
                            return Err(OpError::Usage(format!(
                                "image {reference} is not on this host and could not be pulled: {e}"
                            )));
                        }
                        p.step(None, format!("registry not reachable ({e}): using the local image {reference}"));
                    }
                }
            }
            let id = ctx
                .backend
                .image_id(reference)
                .await?
                .ok_or_else(|| OpError::Usage(format!("image {reference} not found")))?;
            Ok((reference.clone(), id))
        }
    }
}

/// Record `image` (`id`) as the service's baseline: the image a first rollback goes to when no
/// stackdeck gate has passed yet. Nothing when it is already the last good image. Returns
/// whether a row was written.
pub(super) fn record_baseline(store: &Store, key: &str, image: &str, id: &str, why: &str) -> bool {
    if store.last_good(key, None).ok().flatten().is_some_and(|(_, last)| last == id) {
        return false;
    }
    let op = crate::store::NewOp {
        action: "baseline".into(),
        service: key.to_owned(),
        to_image: Some(image.to_owned()),
        reason: Some(why.to_owned()),
        ..crate::store::NewOp::default()
    };
    match store.begin(&op) {
        Ok(row) => {
            let _ = store.finish(row, crate::domain::Outcome::Succeeded, None, Some(id));
            true
        }
        Err(_) => false,
    }
}
