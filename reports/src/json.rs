//! The comparison as JSON (schema `skubench.comparison.v1`).

use baselines::compare::Comparison;

/// Pretty JSON bytes of the comparison.
pub fn render(c: &Comparison) -> Result<Vec<u8>, serde_json::Error> {
    let mut v = serde_json::to_vec_pretty(c)?;
    v.push(b'\n');
    Ok(v)
}
