//! reports: pure renderers. Every function takes data and returns text or
//! bytes; none does I/O. The CLI decides where the output goes.

pub mod hgrm;
pub mod show;
