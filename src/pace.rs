//! When the panel may draw its next frame: a bucket of two frames that refills one per
//! [`FRAME`]. A log flood is drawn once per `FRAME`, evenly; a change that closely follows
//! another (the stack just after the empty first frame, a Swarm task just after its service's
//! update, a key just after a log frame) is drawn at once instead of up to a `FRAME` later.

use tokio::time::Instant;

/// A flood's redraws are this far apart (30 a second).
pub const FRAME: std::time::Duration = std::time::Duration::from_millis(33);

/// The bucket, kept as the moment it is empty until (`tat`): full (two frames) when that is in
/// the past, one frame left when it is less than a `FRAME` ahead.
#[derive(Debug)]
pub struct Pace {
    tat: Instant,
}

impl Pace {
    pub fn new(now: Instant) -> Pace {
        Pace { tat: now }
    }

    /// The moment from which the next frame may be drawn.
    pub fn due(&self) -> Instant {
        self.tat.checked_sub(FRAME).unwrap_or(self.tat)
    }

    /// A frame was drawn at `now`.
    pub fn drawn(&mut self, now: Instant) {
        self.tat = self.tat.max(now) + FRAME;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn two_frames_at_once_then_one_per_frame() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        assert!(p.due() <= t0, "the first frame is drawn at once");
        p.drawn(t0);
        assert!(p.due() <= t0 + 5 * MS, "a change 5 ms later is drawn at once too");
        p.drawn(t0 + 5 * MS);
        // The bucket is empty: the third waits for a refill.
        assert_eq!(p.due(), t0 + FRAME);
        p.drawn(p.due());
        assert_eq!(p.due(), t0 + 2 * FRAME);
    }

    #[test]
    fn a_flood_is_drawn_once_per_frame_evenly() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        let mut at = Vec::new();
        // Always dirty: each frame is drawn the moment it is due.
        for _ in 0..32 {
            let now = p.due().max(t0);
            at.push(now);
            p.drawn(now);
        }
        // Two at the start (the bucket was full), then one per FRAME.
        assert_eq!(at[1], t0);
        for w in at[1..].windows(2) {
            assert_eq!(w[1] - w[0], FRAME);
        }
        assert_eq!(at[31] - t0, 30 * FRAME);
    }

    #[test]
    fn an_idle_spell_refills_to_two_not_more() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        p.drawn(t0);
        let later = t0 + Duration::from_secs(60);
        assert!(p.due() <= later);
        p.drawn(later);
        assert!(p.due() <= later);
        p.drawn(later);
        assert_eq!(p.due(), later + FRAME, "a minute of idle is worth two frames, not 1800");
    }
}
