//! The compose project behind the running containers (issue 13): its files found from the
//! containers' labels and read as compose reads them (`project`), the variables and `.env`
//! (`interpolate`), and the service fields stackdeck acts on (`spec`). Plain file reading: it
//! sits next to `domain` at the bottom and names no module above it.

pub mod interpolate;
pub mod pin;
pub mod project;
pub mod spec;
pub mod view;

pub use project::{Project, Source, load};
pub use spec::{FailureAction, Order, ServiceDef, UpdateConfig};
pub use view::{changed_at, read_all, stamps, view};
