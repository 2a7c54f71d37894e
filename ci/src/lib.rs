//! Pipeline integration: the gate's decisions (adaptive repetitions, exit
//! codes) and SKU discovery from the cloud's instance metadata service.
//! Templates for GitHub Actions, Azure Pipelines, Kubernetes and Ansible
//! live in `ci/templates/`.

pub mod gate;
pub mod imds;
