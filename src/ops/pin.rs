//! Pin what runs in the compose project's `.env` (issue 13 part 4): after a stackdeck deploy
//! the file still names the old tag, and the stack's own `docker-compose up -d` would undo the
//! deploy. The caller shows [`preview`]'s diff and has it confirmed; the operation re-plans,
//! writes only that same line, atomically, and records it.

use super::{Ctx, Progress};
use crate::compose::pin::{PinPlan, plan, write};
use crate::domain::{Container, Done, OpError, Outcome};
use crate::store::NewOp;

/// The service's running container and the plan that pins its image.
async fn planned(ctx: &Ctx, target: &str) -> Result<(String, Container, PinPlan), OpError> {
    let svc = ctx.backend.resolve(target, ctx.project()).await?;
    let c = svc
        .instances
        .iter()
        .filter(|c| !c.is_leftover())
        .max_by_key(|c| c.started_at)
        .cloned()
        .ok_or_else(|| OpError::Usage(format!("{} has no container", svc.key)))?;
    let (Some(project), Some(files)) = (c.key.project.clone(), c.compose.clone()) else {
        return Err(OpError::Usage(format!("{} is not a compose service: there is no compose file to pin", svc.key)));
    };
    if crate::domain::is_remote(ctx.backend.endpoint()) {
        return Err(OpError::Refused(format!(
            "{}: the compose files are on the engine's server, not here: run stackdeck there to pin",
            svc.key
        )));
    }
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let project = crate::compose::load(&crate::compose::Source::of(&project, &files), &env).map_err(OpError::Failed)?;
    let plan = plan(&project, &c.key.service, &c.image).map_err(OpError::Usage)?;
    if env.contains_key(&plan.var) {
        return Err(OpError::Refused(format!(
            "{} is set in this environment, which wins over .env for compose: unset it, or change it where it is set",
            plan.var
        )));
    }
    Ok((svc.key, c, plan))
}

/// The diff a pin of `target` would write, and the line it writes (what the operation is
/// given back once confirmed).
pub async fn preview(ctx: &Ctx, target: &str) -> Result<(String, String), OpError> {
    let (_, _, plan) = planned(ctx, target).await?;
    Ok((plan.diff(), plan.new_line))
}

pub(super) async fn pin(ctx: &Ctx, target: &str, line: &str, p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("pin")?;
    let (key, c, plan) = planned(ctx, target).await?;
    if plan.new_line != line {
        return Err(OpError::Refused(format!(
            "the pin confirmed was {line}, but {} is what it takes now (the service or .env changed): nothing written",
            plan.new_line
        )));
    }
    let store = ctx.store()?;
    let record = store
        .begin(&NewOp {
            action: "pin".into(),
            service: key.clone(),
            to_image: Some(c.image.clone()),
            reason: Some(format!("{} in {}", plan.new_line, plan.env_file.display())),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    for l in plan.diff().lines() {
        p.step(Some(&store), l.to_owned());
    }
    match write(&plan) {
        Ok(()) => {
            let summary = format!(
                "pinned {} in {}: compose now runs {} for {key}",
                plan.new_line,
                plan.env_file.display(),
                c.image
            );
            p.step(Some(&store), summary.clone());
            let _ = store.finish(record, Outcome::Succeeded, None, Some(&c.image_id));
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(e) => {
            let _ = store.finish(record, Outcome::Failed, Some(&e), None);
            Err(OpError::Failed(e))
        }
    }
}
