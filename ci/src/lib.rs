//! Pipeline integration: skubench's exit codes, the gate's decisions
//! (adaptive repetitions, exit codes) and SKU discovery from the cloud's instance metadata service.
//! Templates for GitHub Actions, Azure Pipelines, Kubernetes and Ansible
//! live in `ci/templates/`.

pub mod exit_codes;
pub mod gate;
pub mod imds;
